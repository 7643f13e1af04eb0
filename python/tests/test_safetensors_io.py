"""The torch-only safetensors reader and writer."""

import os
import tempfile
import unittest

import _support
import torch

from dnd_torch.safetensors_io import SafeTensorsError, SafeTensorsFile, save, sha256_file


class SafeTensorsIOTests(unittest.TestCase):
    def test_round_trip_with_metadata_and_hash(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "t.safetensors")
            ts = {"b": torch.arange(6, dtype=torch.float32).view(2, 3), "a": torch.tensor([1, -2], dtype=torch.int32),
                  "e": torch.zeros(0, 4)}
            sha = save(ts, p, metadata={"format": "x"})
            self.assertEqual(sha, sha256_file(p))
            f = SafeTensorsFile(p)
            self.assertEqual(f.metadata, {"format": "x"})
            for k, v in ts.items():
                self.assertTrue(torch.equal(f.tensor(k), v), k)
            self.assertEqual(f.data_start % 8, 0)

    def test_reads_dnds_files(self):
        f = SafeTensorsFile(_support.fixture("hyperconv", "params.safetensors"))
        self.assertEqual(f.shape("blocks.0.norm.weight"), (8, 12))

    def test_rejects_truncated_files(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "t.safetensors")
            save({"x": torch.ones(100)}, p)
            with open(p, "r+b") as fh:
                fh.truncate(os.path.getsize(p) - 4)
            with self.assertRaisesRegex(SafeTensorsError, "offsets"):
                SafeTensorsFile(p)
            with open(p, "wb") as fh:
                fh.write(b"\x01")
            with self.assertRaisesRegex(SafeTensorsError, "too short"):
                SafeTensorsFile(p)


if __name__ == "__main__":
    unittest.main()
