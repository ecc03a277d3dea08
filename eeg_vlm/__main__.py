import sys

from eeg_vlm.cli import main

sys.exit(main())
