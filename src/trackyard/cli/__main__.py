import sys

from trackyard.cli import main

sys.exit(main())
