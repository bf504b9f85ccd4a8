"""The trendml BentoML service: one service class (:mod:`service.service`), its request and
response models (:mod:`service.schemas`), API-key auth and error mapping (:mod:`service.auth`,
:mod:`service.errors`) and the model manager that hot-swaps the ``champion``
(:mod:`service.models`)."""
