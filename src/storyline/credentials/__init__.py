"""Credentials, whole: what one is, how it is kept, fetched, carried and kept out of records.

``keys`` (the master key) and ``cipher`` keep them at rest, ``stored`` reads and
writes their table, ``tokens`` fetches the values that live elsewhere, ``vault`` is
what one process sees of them, ``logs`` keeps their values out of log lines, and
``signing`` signs prompt URLs with another sub-key of the same master key. On the
wire egress holds each hop to the credentials a request carries
(``storyline.egress.carried``), and ``storyline.egress.redaction`` finds their
values in every written form: both sit below the actions that send requests, while
this package sits above them (``tokens`` runs the HTTP Request action).
"""
