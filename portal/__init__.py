"""portal: a booking portal for Norway."""

import os

# Piccolo finds its engine through this module; set it before any table is used.
os.environ.setdefault("PICCOLO_CONF", "portal.piccolo_conf")
