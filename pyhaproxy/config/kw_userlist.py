"""The `userlist` section (HAProxy 1.4+, 2.6's syntax): `group NAME [users U,...]` and
`user NAME [password HASH | insecure-password PASS] [groups G,...]`, used by the
`http_auth(L)`/`http_auth_group(L)` fetches and `http-request auth`. Messages are 2.6's
(cfgparse.c cfg_parse_users); a `password` is a crypt(3) hash checked by the worker.
"""

from __future__ import annotations

from .model import Userlist, UserlistUser, Where
from .state import State
from .values import fail

USERLIST = "userlist"


def open_section(st: State, args: list[str], where: Where) -> None:
    if len(args) < 2 or not args[1]:
        raise fail(where, "'userlist' expects <name> as arguments.")
    for other in st.config.userlists:
        if other.name == args[1]:
            st.warn(where, f"ignoring duplicated userlist '{args[1]}'.")
    st.config.userlists.append(Userlist(name=args[1], where=where))
    st.section, st.proxy = USERLIST, None


def userlist_line(st: State, args: list[str], where: Where) -> None:
    ul = st.config.userlists[-1]
    kw = args[0]
    if kw == "group":
        if len(args) < 2 or not args[1]:
            raise fail(where, "'group' expects <name> as arguments.")
        if args[1] in ul.groups:
            st.warn(where, f"ignoring duplicated group '{args[1]}' in userlist '{ul.name}'.")
            return
        ul.groups.append(args[1])
        if args[2:3] == ["users"] and len(args) > 3:
            ul.group_users[args[1]] = [u for u in args[3].split(",") if u]
        elif len(args) > 2:
            raise fail(where, f"'group' only supports 'users' (got '{args[2]}').")
        return
    if kw == "user":
        if len(args) < 2 or not args[1]:
            raise fail(where, "'user' expects <name> as arguments.")
        if any(u.name == args[1] for u in ul.users):
            st.warn(where, f"ignoring duplicated user '{args[1]}' in userlist '{ul.name}'.")
            return
        user = UserlistUser(name=args[1])
        i = 2
        while i < len(args):
            w = args[i]
            if w in ("password", "insecure-password") and i + 1 < len(args):
                user.secret, user.crypted = args[i + 1], w == "password"
            elif w == "groups" and i + 1 < len(args):
                user.groups = [g for g in args[i + 1].split(",") if g]
            else:
                raise fail(where, "'user' only supports 'password', 'insecure-password' and 'groups' "
                                  f"(got '{w}').")
            i += 2
        ul.users.append(user)
        return
    raise fail(where, f"unknown keyword '{kw}' in '{USERLIST}' section")


def check_userlists(lists: list[Userlist]) -> None:
    """2.6's post-parse checks: a group a user names must exist."""
    for ul in lists:
        for u in ul.users:
            for g in u.groups:
                if g not in ul.groups:
                    raise fail(ul.where, f"userlist '{ul.name}': no such group '{g}' specified in "
                                         f"user '{u.name}'.")
        for g, members in ul.group_users.items():
            for name in members:
                if not any(u.name == name for u in ul.users):
                    raise fail(ul.where, f"userlist '{ul.name}': no such user '{name}' specified in "
                                         f"group '{g}'.")
