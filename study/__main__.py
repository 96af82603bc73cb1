import sys

from study.cli.app import main

sys.exit(main())
