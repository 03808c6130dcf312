from zerodown.cli import main

raise SystemExit(main())
