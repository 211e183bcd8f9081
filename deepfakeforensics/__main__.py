import sys

from deepfakeforensics.cli import main

sys.exit(main())
