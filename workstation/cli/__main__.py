"""``python -m workstation.cli``: the ``qws`` command (what ``qws serve`` runs per session)."""

import sys

from workstation.cli import main

sys.exit(main())
