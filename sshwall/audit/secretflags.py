"""Which flags of which programs carry a secret: the audit log's knowledge of command lines.

Like the engine's per-program argument specs, this is data: for each program, the flags whose
value is a password or token, how the value is written (``-pSECRET`` attached, ``-p SECRET`` as
the next word, ``--password=SECRET``), and which part of the value is the secret (all of it,
what follows ``user:`` in ``curl -u user:pass``, ``pass:`` in OpenSSL's ``-passin pass:X``,
the value of an ``Authorization`` header). ``STDIN_READERS`` are the programs that read a
password from standard input, so that ``echo SECRET | sudo -S ...`` is redacted too.

Adding a program is adding a line here; ``textsecrets`` applies the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Part(Enum):
    """Which part of a flag's value is the secret."""

    ALL = "all"  # -p SECRET
    AFTER_COLON = "after-colon"  # user:SECRET (curl -u); no colon: a user name only, kept
    AFTER_PERCENT = "after-percent"  # user%SECRET (smbclient -U)
    AFTER_COMMA = "after-comma"  # user,SECRET (lftp -u)
    OPENSSL = "openssl"  # pass:SECRET (env:VAR, file:PATH, fd:N, stdin are kept)
    HEADER = "header"  # "Authorization: Bearer SECRET", when the header's name is secret-ish


@dataclass(frozen=True, slots=True)
class Flag:
    """A flag that carries a secret: ``attached`` allows ``-pSECRET`` / ``--password=SECRET``,
    ``separate`` allows ``-p SECRET`` / ``--password SECRET``."""

    part: Part = Part.ALL
    attached: bool = True
    separate: bool = True


@dataclass(frozen=True, slots=True)
class Program:
    """The secret-carrying flags of one program; ``subcommands``: only after one of these
    (``docker login -p``, not ``docker run -p 80:80``)."""

    flags: dict[str, Flag]
    subcommands: frozenset[str] = frozenset()


_ANY = Flag()
_ATTACHED = Flag(separate=False)  # mysql -pSECRET (``-p db`` prompts and names a database)
_EQUALS = Flag(separate=False)
_USER = Flag(Part.AFTER_COLON)
_HEADER = Flag(Part.HEADER)

_MYSQL = Program({"-p": _ATTACHED, "--password": _EQUALS})
_MONGO = Program({"-p": _ANY, "--password": _ANY})
_LDAP = Program({"-w": _ANY})
_SAMBA = Program({"-U": Flag(Part.AFTER_PERCENT), "--user": Flag(Part.AFTER_PERCENT), "--password": _ANY})
_LOGIN = Program({"-p": _ANY, "--password": _ANY}, frozenset({"login"}))
_OPENSSL_PASS = Flag(Part.OPENSSL, attached=False)

PROGRAMS: dict[str, Program] = {
    "sshpass": Program({"-p": _ANY}),
    **dict.fromkeys(
        ("mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlcheck", "mysqlshow", "mysqlbinlog",
         "mysqlpump", "mysqlslap", "mariadb", "mariadb-dump", "mariadb-admin", "mariadb-import",
         "mariadb-check", "mariadb-show"),
        _MYSQL,
    ),
    "curl": Program({
        "-u": _USER, "--user": _USER, "-U": _USER, "--proxy-user": _USER,
        "-H": _HEADER, "--header": _HEADER, "--proxy-header": _HEADER,
        "--oauth2-bearer": _ANY, "--pass": _ANY, "--proxy-pass": _ANY,
        "--tlspassword": _ANY, "--proxy-tlspassword": _ANY,
        "-E": _USER, "--cert": _USER, "--proxy-cert": _USER,  # CERT[:PASSWORD]
    }),
    "wget": Program({
        "--password": _ANY, "--http-password": _ANY, "--ftp-password": _ANY,
        "--proxy-password": _ANY, "--header": _HEADER,
    }),
    "redis-cli": Program({"-a": _ANY, "--pass": _ANY}),
    **dict.fromkeys(("ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "ldapwhoami", "ldapcompare",
                     "ldapmodrdn", "ldapexop"), _LDAP),
    "ldappasswd": Program({"-w": _ANY, "-s": _ANY, "-a": _ANY}),
    **dict.fromkeys(("mongo", "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport",
                     "mongostat", "mongotop", "cqlsh"), _MONGO),
    "clickhouse-client": Program({"--password": _ANY}),
    **dict.fromkeys(("sqlcmd", "bcp", "osql", "isql"), Program({"-P": _ANY})),
    **dict.fromkeys(("smbclient", "rpcclient", "smbcacls", "net"), _SAMBA),
    "lftp": Program({"-u": Flag(Part.AFTER_COMMA), "--user": Flag(Part.AFTER_COMMA)}),
    "openssl": Program({"-passin": _OPENSSL_PASS, "-passout": _OPENSSL_PASS, "-pass": _OPENSSL_PASS,
                        "-k": Flag(attached=False)}),
    **dict.fromkeys(("docker", "podman", "nerdctl", "buildah", "skopeo", "az"), _LOGIN),
    "helm": Program({"--password": _ANY}),
    "kubectl": Program({"--token": _ANY, "--password": _ANY}),
    "oc": Program({"--token": _ANY, "--password": _ANY, "-p": _ANY}),
    **dict.fromkeys(("useradd", "usermod"), Program({"-p": _ANY, "--password": _ANY})),
    "vault": Program({}, frozenset({"login"})),  # ``vault login TOKEN``: see POSITIONAL
}

POSITIONAL: dict[str, frozenset[str]] = {"vault": frozenset({"login"})}
"""Programs whose first operand after one of these subcommands is a secret (``vault login T``)."""

STDIN_READERS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-S", "--stdin"}),
    "passwd": frozenset({"--stdin"}),
    "chpasswd": frozenset(),  # always: it reads user:password lines
    "docker": frozenset({"--password-stdin"}),
    "podman": frozenset({"--password-stdin"}),
    "helm": frozenset({"--password-stdin"}),
    "htpasswd": frozenset({"-i"}),
    "kinit": frozenset(),
    "cryptsetup": frozenset(),
}
"""Programs that read a secret from standard input, when given one of these flags (empty: always);
the text piped into them (``echo SECRET |``, ``<<< SECRET``) is redacted."""

PRINTERS = frozenset({"echo", "printf"})
"""Programs whose operands become the standard input of the next command of a pipeline."""
