"""Optional integrations of sdax with other libraries.

Each module here needs a third-party package that sdax itself does not
depend on; install the matching extra:

- :mod:`sdax.contrib.otel`: OpenTelemetry tracing (``pip install "sdax[otel]"``).
"""
