"""File transfers: a file really goes up and comes down intact; failures are error results."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.support.mcp_client import BackendClient
from tests.support.sshd import SshdServer


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_upload_then_download_round_trip(
    backend: BackendClient, conn: str, sshd: SshdServer, remote_dir: str, tmp_path: Path
) -> None:
    payload = os.urandom(300_000) + b"\x00\xff\r\n"
    local = tmp_path / "payload.bin"
    local.write_bytes(payload)
    remote = f"{remote_dir}/payload.bin"

    up = backend.ok("uploadFile", {"connectionId": conn, "localPath": str(local), "remotePath": remote})
    assert up.data and up.data["status"] == "completed" and up.data["size"] == len(payload)
    # Checked on the host, independently of the backend.
    assert sshd.check(f"sha256sum '{remote}'").split()[0] == _sha(payload)

    back = tmp_path / "back" / "payload.bin"
    down = backend.ok("downloadFile", {"connectionId": conn, "remotePath": remote, "localPath": str(back)})
    assert down.data and down.data["status"] == "completed"
    assert back.read_bytes() == payload

    status = backend.ok("getFileTransferStatus", {"transferId": up.data["transferId"]})
    assert status.data and status.data["bytesTransferred"] == len(payload)
    ids = [t["transferId"] for t in (backend.ok("listFileTransfers").data or {})["transfers"]]
    assert up.data["transferId"] in ids and down.data["transferId"] in ids


def test_download_without_local_path_goes_to_the_download_dir(
    backend: BackendClient, conn: str, sshd: SshdServer, remote_dir: str, backend_dir: Path
) -> None:
    sshd.check(f"printf 'hello' > '{remote_dir}/greeting.txt'")
    reply = backend.ok("downloadFile", {"connectionId": conn, "remotePath": f"{remote_dir}/greeting.txt"})
    assert reply.data and reply.data["localPath"] == str(backend_dir / "downloads" / "greeting.txt")
    assert (backend_dir / "downloads" / "greeting.txt").read_text() == "hello"


def test_batches(backend: BackendClient, conn: str, sshd: SshdServer, remote_dir: str, tmp_path: Path) -> None:
    files = []
    for n in range(3):
        path = tmp_path / f"f{n}.txt"
        path.write_text(f"file {n}\n")
        files.append({"localPath": str(path), "remotePath": f"{remote_dir}/f{n}.txt"})
    up = backend.ok("batchUploadFiles", {"connectionId": conn, "files": files})
    assert up.data and len(up.data["transferIds"]) == 3
    assert sshd.check(f"cat '{remote_dir}/f0.txt' '{remote_dir}/f2.txt'") == "file 0\nfile 2\n"

    out = tmp_path / "out"
    down = backend.call("batchDownloadFiles", {"connectionId": conn, "files": [
        {"remotePath": f"{remote_dir}/f1.txt", "localPath": str(out / "f1.txt")},
        {"remotePath": f"{remote_dir}/missing.txt", "localPath": str(out / "missing.txt")},
    ]})
    # As the real server: a batch is a success that counts its failed files.
    assert not down.is_error and down.text == "批量下载完成\n成功: 1个文件\n失败: 1个文件", down.text
    assert down.data and [t["status"] for t in down.data["transfers"]] == ["completed", "failed"]
    assert (out / "f1.txt").read_text() == "file 1\n"
    assert not (out / "missing.txt").exists(), "a failed download must not leave a file behind"


def test_transfer_failures_are_error_results(
    backend: BackendClient, conn: str, sshd: SshdServer, remote_dir: str, tmp_path: Path
) -> None:
    missing_local = backend.call("uploadFile", {"connectionId": conn, "localPath": str(tmp_path / "nope"),
                                                "remotePath": f"{remote_dir}/x"})
    assert missing_local.text == f'错误: 本地文件 "{tmp_path / "nope"}" 不存在' and missing_local.is_error
    assert not sshd.path_exists(f"{remote_dir}/x")

    keep = tmp_path / "keep.txt"
    keep.write_text("precious")
    missing_remote = backend.call("downloadFile", {"connectionId": conn, "remotePath": f"{remote_dir}/nope",
                                                   "localPath": str(keep)})
    assert missing_remote.is_error and missing_remote.text.startswith("文件下载失败: download of "), missing_remote.text
    assert keep.read_text() == "precious", "a failed download must not clobber the local file"

    bad_dir = backend.call("uploadFile", {"connectionId": conn, "localPath": str(keep),
                                          "remotePath": f"{remote_dir}/no/such/dir/f"})
    assert bad_dir.is_error and bad_dir.data and bad_dir.data["status"] == "failed"
    unknown = backend.call("getFileTransferStatus", {"transferId": "0" * 32})
    assert unknown.is_error and unknown.text == f"错误: 传输 {'0' * 32} 不存在"
