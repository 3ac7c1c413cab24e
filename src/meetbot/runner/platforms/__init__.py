"""Meeting platforms as page objects behind one Protocol (see ``base.py``)."""
