"""The portal's own pages: terms of use, privacy notice, cookies and the
accessibility statement (L29, L34, L35)."""
