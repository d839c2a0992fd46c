from vaegan.logger import RunLogger, read_metrics


def test_resume_drops_the_records_after_the_checkpoint(tmp_path):
    logger = RunLogger(tmp_path)
    for step in (25, 50, 75):
        logger.log_step({"train/loss": float(step)}, step)
    for epoch, step in ((1, 32), (2, 64), (3, 96)):
        logger.log_epoch({"epoch": epoch, "test/mse": 0.1}, step)
    logger.truncate_after(epoch=2, step=64)
    assert [r["step"] for r in read_metrics(tmp_path / "steps.jsonl")] == [25, 50]
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]


def test_a_fractional_epoch_is_shown_short(tmp_path):
    """The learned prior logs passes over its latents (step / steps per pass), rarely a whole number."""
    logger = RunLogger(tmp_path)
    logger.log_epoch({"epoch": 1000 / 13, "step": 1000}, 1000)
    logger.log_epoch({"epoch": 3, "step": 1039}, 1039)
    lines = (tmp_path / "log.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 76.92", "epoch 3"]
    assert read_metrics(tmp_path / "metrics.jsonl")[0]["epoch"] == 1000 / 13  # the record keeps every digit
