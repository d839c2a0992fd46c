"""Read back what a W&B run file holds, for tests: a `.wandb` file is a LevelDB-style log
(7-byte file header, 32 KiB blocks of chunks `crc32:u32 length:u16 type:u8 payload`) whose
records are `wandb_internal_pb2.Record` protobufs."""
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK, CHUNK_HEADER, FILE_HEADER = 32768, 7, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    records, pending, offset = [], b"", FILE_HEADER
    while offset + CHUNK_HEADER <= len(data):
        if BLOCK - offset % BLOCK < CHUNK_HEADER:  # block trailer padding
            offset += BLOCK - offset % BLOCK
            continue
        length = int.from_bytes(data[offset + 4: offset + 6], "little")
        kind = data[offset + 6]
        payload = data[offset + CHUNK_HEADER: offset + CHUNK_HEADER + length]
        offset += CHUNK_HEADER + length
        if kind == 0 and length == 0:
            continue
        pending = payload if kind in (FULL, FIRST) else pending + payload
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def history_keys(path: Path) -> set[str]:
    return {item.key or "/".join(item.nested_key) for r in read_records(path)
            if r.WhichOneof("record_type") == "history" for item in r.history.item}


def summary_keys(path: Path) -> set[str]:
    return {item.key or "/".join(item.nested_key) for r in read_records(path)
            if r.WhichOneof("record_type") == "summary" for item in r.summary.update}
