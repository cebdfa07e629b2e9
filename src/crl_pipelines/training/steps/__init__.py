"""One training step per sampling, behind one interface (:class:`~.base.Step`): each sampling's
registration names its step (:class:`crl_pipelines.sampling.base.Sampling`), a module here."""
