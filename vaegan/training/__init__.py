"""The Trainer's jobs, one room each (vaegan/trainer.py sets a run up and holds the epoch loop): the
optimizer step and an epoch of them (`step`), what ends an epoch — evaluation, the mixture refit, best.pt,
the run's summary (`epoch_end`) — and the checkpoint's contents, written and restored (`checkpoints`).
Each is a mixin of `Trainer`, reading and writing the attributes its set-up made."""
