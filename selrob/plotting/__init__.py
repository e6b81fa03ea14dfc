"""The notebooks' figures: :mod:`~selrob.plotting.style` the colours, the alpha legend, saving and
the image grid both studies use, :mod:`~selrob.plotting.selectivity` the first paper's figures and
:mod:`~selrob.plotting.shape_bias` the second's. Import a function from the module that defines it."""
