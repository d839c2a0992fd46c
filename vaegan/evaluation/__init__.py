"""Evaluation in one place: what a model scores on a split (`metrics`: pixel metrics, the ELBO and the
importance-weighted bound), the domain classifier and the Fréchet distances in its features
(`domain`, plus Inception FID when its weights are given), and the evaluation of a checkpoint that
`eval.py` runs (`checkpoint`)."""
