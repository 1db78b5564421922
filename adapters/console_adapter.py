"""The console chat: the embedded default door, with several chats and users in one terminal.

Lines starting with ":" steer the console itself; everything else is said by the current
user in the current chat, exactly as if it came from a platform:

  :chat lagos      switch to (or open) the chat "lagos"
  :as amaka        speak as amaka (created on first use)
  :dm              switch to your private chat with the bot
  :chats           list open chats
  :voice PATH [caption]   send an audio file as a voice note
  :file PATH [caption]    send any file
  :reply           make your next message a reply to the bot's last message here
  :wait 3d         jump the clock ahead (demo) and run whatever fell due
  $CODE            in a line, stands for the last code the bot showed in `backticks`
  :help            this text
  :quit            leave
"""
from __future__ import annotations

import asyncio
import mimetypes
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from core import markup
from core.adapter import OnIncoming
from core.commands import parse_duration
from core.media import MediaStore
from core.messages import Attachment, Incoming, Outgoing, ReplyTo, Sender

CONSOLE_HELP = __doc__.split("\n\n", 1)[1]
_CODE = re.compile(r"`([A-Z0-9]{3,8}(?:-[A-Z0-9]{3,8})+)`")  # invite, link and FORGET- codes


@dataclass
class ConsoleLine:
    """A raw console event: who typed what, where."""

    chat: str
    user: str
    text: str
    direct: bool = False
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None


class ConsoleAdapter:
    """A terminal standing in for a chat platform."""

    platform = "console"
    capabilities = frozenset({"voice"})
    bot_names = ("tessera",)
    text_limit = 100_000

    def __init__(self, media: MediaStore, out: TextIO | None = None,
                 on_wait: Callable[[object], object] | None = None) -> None:
        self.media = media
        self.out = out or sys.stdout
        self.on_wait = on_wait
        self.chat = "lobby"
        self.user = "you"
        self.chats: dict[str, bool] = {"lobby": False}  # name -> is direct
        self.on_incoming: OnIncoming | None = None
        self.last_bot_message: dict[str, str] = {}
        self.reply_next = False
        self.sent: list[tuple[str, bool, Outgoing]] = []
        self._counter = 0
        self.running = False
        self.last_code = ""

    # -- the adapter interface --------------------------------------------------------------
    async def start(self, on_incoming: OnIncoming, *, receive: bool = True) -> None:
        """Get ready for lines; the console is one terminal, so it cannot only deliver."""
        if not receive:
            raise ValueError("the console reads and prints in one terminal: it cannot "
                             "run as a delivery-only worker")
        self.on_incoming = on_incoming
        self.running = True

    async def stop(self) -> None:
        self.running = False

    async def send(self, chat_id: str, message: Outgoing, direct: bool = False) -> str:
        self._counter += 1
        ref = f"m{self._counter}"
        where = f"dm → {chat_id}" if direct else chat_id
        self.sent.append((chat_id, direct, message))
        self.last_bot_message["dm:" + chat_id if direct else chat_id] = ref
        codes = _CODE.findall(message.text)
        if codes:
            self.last_code = codes[-1]
        body = self.render(message)
        indent = "\n    "
        self.out.write(f"[{where}] tessera: {body.replace(chr(10), indent)}\n")
        self.out.flush()
        return ref

    def to_incoming(self, raw: ConsoleLine) -> Incoming:
        chat_id = f"dm:{raw.user}" if raw.direct else raw.chat
        return Incoming(
            platform=self.platform, chat_id=chat_id, chat_title=raw.chat.capitalize(),
            sender=Sender(user_id=raw.user, display_name=raw.user.capitalize()),
            text=raw.text, message_id=None, is_direct=raw.direct,
            attachments=list(raw.attachments),
            reply_to=ReplyTo(message_id=raw.reply_to) if raw.reply_to else None,
        )

    def render(self, message: Outgoing) -> str:
        lines = [markup.to_plain(message.text)] if message.text else []
        for a in message.attachments:
            secs = f", {a.duration:.0f} s" if a.duration else ""
            lines.append(f"📎 {a.kind}: {a.filename or a.path}{secs}")
            if a.caption:
                lines.append(f"   {markup.to_plain(a.caption)}")
        if message.poll:
            lines.append(f"📊 {message.poll.question}")
            lines += [f"  {i}. {o.label}  →  {o.command}" for i, o in enumerate(message.poll.options, 1)]
        for c in message.choices:
            lines.append(f"  [{c.label}]  →  {c.command}")
        if message.close_ref:
            lines.append(f"(poll {message.close_ref} closed)")
        return "\n".join(lines) if lines else "(empty)"

    # -- the console itself ------------------------------------------------------------------
    def prompt(self) -> str:
        """The prompt that shows where you are and who you are."""
        where = f"dm:{self.user}" if self.chats.get(self.chat) else self.chat
        return f"[{where} as {self.user}]> "

    async def feed(self, line: str) -> bool:
        """Handle one typed line; False when the user asked to quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        line = line.replace("$CODE", self.last_code)
        if line.startswith(":"):
            return await self._steer(line[1:])
        await self._say(line)
        return True

    async def _say(self, text: str, attachments: tuple[Attachment, ...] = ()) -> None:
        direct = self.chats.get(self.chat, False)
        reply_to = None
        if self.reply_next:
            key = f"dm:{self.user}" if direct else self.chat
            reply_to = self.last_bot_message.get(key)
            self.reply_next = False
        raw = ConsoleLine(self.chat, self.user, text, direct, attachments, reply_to)
        if self.on_incoming is not None:
            await self.on_incoming(self.to_incoming(raw))

    def _note(self, text: str) -> None:
        self.out.write(f"  · {text}\n")
        self.out.flush()

    async def _steer(self, command: str) -> bool:
        word, _, arg = command.partition(" ")
        arg = arg.strip()
        if word in ("quit", "q", "exit"):
            return False
        if word == "chat" and arg:
            self.chat = arg.lower()
            self.chats.setdefault(self.chat, False)
            self._note(f"now in chat “{self.chat}”")
        elif word == "as" and arg:
            self.user = arg.lower()
            self._note(f"now speaking as {self.user}")
        elif word == "dm":
            self.chat = f"dm:{self.user}"
            self.chats[self.chat] = True
            self._note(f"now in your private chat with tessera (as {self.user})")
        elif word == "chats":
            self._note("chats: " + ", ".join(sorted(self.chats)))
        elif word == "reply":
            self.reply_next = True
            self._note("your next message replies to tessera's last message here")
        elif word in ("voice", "file", "audio", "image") and arg:
            await self._attach(word, arg)
        elif word == "wait" and arg:
            try:
                delta = parse_duration(arg)
            except ValueError:
                self._note("write e.g. :wait 3d, :wait 2h, :wait 90m")
                return True
            if self.on_wait is not None:
                await self.on_wait(delta)
            self._note(f"the clock jumped {arg} ahead")
        else:
            self.out.write(CONSOLE_HELP + "\n")
        return True

    async def _attach(self, kind: str, arg: str) -> None:
        path_text, _, caption = arg.partition(" ")
        path = Path(path_text).expanduser()
        if not path.is_file():
            self._note(f"no such file: {path}")
            return
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = path.read_bytes()
        try:
            key = self.media.put(data, mime)
        except ValueError as e:
            self._note(f"not sent: {e}")
            return
        duration = _ogg_or_wav_duration(path, data)
        att = Attachment(kind=kind if kind != "file" else "file", mime_type=mime, size=len(data),
                         filename=path.name, duration=duration, path=key)
        await self._say(caption, (att,))

    async def interact(self, settle: Callable[[], object]) -> None:
        """Read lines from the terminal until :quit or end of input."""
        loop = asyncio.get_running_loop()
        self.out.write("Tessera console. Type :help for console commands, /help for the bot's.\n")
        while True:
            try:
                line = await loop.run_in_executor(None, input, self.prompt())
            except (EOFError, KeyboardInterrupt):
                break
            if not await self.feed(line):
                break
            await settle()


def _ogg_or_wav_duration(path: Path, data: bytes) -> float | None:
    # Only WAV is cheap to measure without extra libraries; others report no duration.
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        import wave
        try:
            with wave.open(str(path)) as w:
                return w.getnframes() / float(w.getframerate())
        except wave.Error:
            return None
    return None
