from keyhold.cli import main

raise SystemExit(main())
