"""File-transfer reply texts in the real Mcp Ssh's formats (``shared/mcp-ssh/replies.jsonl``).

The real server's upload/download replies carry no transfer id (it puts one in a field outside
the MCP result, which clients drop): the built-in backend gives it in ``structuredContent``
only, so the text is the server's word for word.
"""

from __future__ import annotations

from sshwall.backend.replytext import local_time
from sshwall.backend.transfers import Transfer
from sshwall.profiles.nodepath import node_basename

_STATE = {"pending": "等待中", "in-progress": "传输中", "completed": "已完成", "failed": "失败"}
_MARK = {"pending": "⏳", "in-progress": "🔄", "completed": "✅", "failed": "❌"}


def js_number(value: float) -> str:
    """A number as JavaScript prints it (``12`` for a whole float, shortest digits otherwise)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def file_size(size: float) -> str:
    """The server's ``formatFileSize``: bytes below 1 KiB as is, then KB/MB/GB with 2 decimals."""
    if size < 1024:
        return f"{js_number(size)} B"
    for unit, scale in (("KB", 1024), ("MB", 1024**2)):
        if size < scale * 1024:
            return f"{size / scale:.2f} {unit}"
    return f"{size / 1024**3:.2f} GB"


def _name(record: Transfer) -> str:
    return node_basename(record.local_path if record.direction == "upload" else record.remote_path)


def _percent(record: Transfer) -> int:
    if record.status == "completed":
        return 100
    return round(100 * record.bytes_transferred / record.size) if record.size else 0


def one(record: Transfer) -> str:
    """``uploadFile`` / ``downloadFile``'s reply (success or ``文件上传失败: ...``)."""
    verb = "上传" if record.direction == "upload" else "下载"
    if record.status == "failed":
        return f"文件{verb}失败: {record.error or '未知错误'}"
    if record.direction == "upload":
        paths = f"本地路径: {record.local_path}\n远程路径: {record.remote_path}"
    else:
        paths = f"远程路径: {record.remote_path}\n本地路径: {record.local_path}"
    return f'文件 "{_name(record)}" {verb}成功\n{paths}'


def batch(direction: str, records: list[Transfer]) -> str:
    """``batchUploadFiles`` / ``batchDownloadFiles``' reply: counts only, as the server's."""
    verb = "上传" if direction == "upload" else "下载"
    good = sum(1 for r in records if r.status == "completed")
    bad = sum(1 for r in records if r.status == "failed")
    return f"批量{verb}完成\n成功: {good}个文件\n失败: {bad}个文件"


def status(record: Transfer) -> str:
    """``getFileTransferStatus``' reply."""
    verb = "上传" if record.direction == "upload" else "下载"
    text = (f"文件 {verb} 状态:\nID: {record.transfer_id}\n文件名: {_name(record)}\n"
            f"状态: {_STATE[record.status]}\n进度: {_percent(record)}%\n大小: {file_size(record.size)}\n"
            f"已传输: {file_size(record.bytes_transferred)}\n开始时间: {local_time(record.started_at)}\n")
    if record.ended_at is not None:
        text += f"结束时间: {local_time(record.ended_at)}\n"
        duration = (round(record.ended_at * 1000) - round(record.started_at * 1000)) / 1000  # whole ms, as Date
        if duration > 0:
            text += f"平均速度: {file_size(record.bytes_transferred / duration)}/s\n"
    if record.error:
        text += f"错误: {record.error}\n"
    return text


def listed(records: list[Transfer]) -> str:
    """``listFileTransfers``' reply."""
    if not records:
        return "没有文件传输记录"
    text = f"文件传输记录 ({len(records)}):\n\n"
    for r in records:
        arrow = "⬆️" if r.direction == "upload" else "⬇️"
        text += (f"{_MARK[r.status]} {_STATE[r.status]} {arrow} {_name(r)}\nID: {r.transfer_id}\n"
                 f"进度: {_percent(r)}% ({file_size(r.bytes_transferred)}/{file_size(r.size)})\n"
                 f"开始: {local_time(r.started_at)}\n")
        if r.ended_at is not None:
            text += f"结束: {local_time(r.ended_at)}\n"
        if r.error:
            text += f"错误: {r.error}\n"
        text += "\n"
    return text
