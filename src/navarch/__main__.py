import sys

from navarch.cli.main import main

sys.exit(main())
