"""`python -m medtk` runs the command-line interface."""

from medtk.cli.main import main

raise SystemExit(main())
