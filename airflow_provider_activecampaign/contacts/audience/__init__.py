"""The audience sync on the contact sync: only changes, mirror with caps, plan then apply."""
