import numpy as np
import pytest

from eeg_vlm.checks import check_option, suggest, validate_type
from eeg_vlm.io.record import Channel, Recording
from eeg_vlm.stages import STAGES, to_aasm


def test_check_option_names_choices_and_value():
    assert check_option("fusion", "add", ("none", "raw", "add")) == "add"
    with pytest.raises(ValueError, match=r"'fusion'.*'none', 'raw', 'add'.*got 'ad'.*did you mean 'add'"):
        check_option("fusion", "ad", ("none", "raw", "add"))


def test_validate_type():
    with pytest.raises(TypeError, match="x must be an instance of int or float, got str"):
        validate_type("x", "1", (int, float))


def test_suggest_by_containment():
    assert "EEG Fpz-Cz" in suggest("Fpz-Cz", ["EEG Fpz-Cz", "EEG Pz-Oz"])
    assert suggest("zzz", ["EEG Fpz-Cz"]) == ""


@pytest.mark.parametrize(
    "label, stage",
    [("Sleep stage W", "W"), ("Sleep stage 1", "N1"), ("Sleep stage 3", "N3"), ("Sleep stage 4", "N3"),
     ("Sleep stage R", "REM"), ("Sleep stage ?", None), ("Movement time", None),
     ("Stage 2 sleep|2", "N2"), ("REM sleep|5", "REM"), ("Wake|0", "W"), ("S4", "N3"), ("n1", "N1")],
)
def test_to_aasm(label, stage):
    assert to_aasm(label) == stage


def test_to_aasm_unknown():
    with pytest.raises(ValueError, match="unknown sleep stage label 'Stage X'"):
        to_aasm("Stage X")
    assert STAGES == ("W", "N1", "N2", "N3", "REM")


def _rec():
    chans = {n: Channel(n, np.zeros(100), 100.0) for n in ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal")}
    return Recording("SC4001", "E0", "sleep-edf", chans)


def test_channel_aliases_resolve():
    rec = _rec()
    assert rec.resolve_channel("Fpz-Cz") == "EEG Fpz-Cz"
    assert rec.resolve_channel("eeg fpz-cz") == "EEG Fpz-Cz"
    assert rec.resolve_channel("EOG") == "EOG horizontal"


def test_missing_channel_lists_present():
    with pytest.raises(ValueError, match=r"channel 'C3-A2' not found; present: 'EEG Fpz-Cz', 'EEG Pz-Oz', 'EOG horizontal'"):
        _rec().resolve_channel("C3-A2")
