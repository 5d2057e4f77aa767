"""Library-to-library protocols, as pure Python: no Django here."""
