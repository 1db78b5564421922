"""The fake Bot API server, driven by the real python-telegram-bot.

Each test reads like a circle's chat: Alice organises the Berlin circle, Bob is
a member; the bot is what PTB sees through ``server.base_url``.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import warnings

import httpx
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter
from telegram.ext import CallbackQueryHandler, CommandHandler, PollAnswerHandler

from tests.support.fake_telegram import FakeTelegram, TelegramLimits

BERLIN = -1001000000001
LAGOS = -1001000000002
OGG = b"OggS\x00\x02" + bytes(range(256)) * 8  # starts like an Ogg Opus voice note


@pytest.fixture
async def server():
    async with FakeTelegram(time_scale=0.05) as fake:
        yield fake


@pytest.fixture
def people(server):
    alice = server.user(1001, "Alice", "alice_berlin")
    bob = server.user(1002, "Bob", "bob_lagos")
    server.add_group(BERLIN, "Berlin circle", admins=[alice], members=[bob])
    server.add_group(LAGOS, "Lagos circle", admins=[bob])
    return alice, bob


@pytest.fixture
async def bot(server):
    async with server.ptb_bot() as ptb_bot:
        yield ptb_bot


def seconds(retry_after: int | dtm.timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, dtm.timedelta) else retry_after


async def test_get_me_describes_the_bot(bot):
    me = await bot.get_me()

    assert (me.id, me.username, me.is_bot) == (123, "tessera_test_bot", True)
    assert me.can_read_all_group_messages is True


async def test_a_command_in_the_group_reaches_the_application_and_is_confirmed(server, people):
    alice, _ = people
    heard: list[tuple[int, list[str]]] = []

    async def relay(update: Update, context) -> None:
        heard.append((update.effective_chat.id, context.args))
        await update.message.reply_text("Report received.")

    app = server.application_builder().build()
    app.add_handler(CommandHandler("relay", relay))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
    try:
        pushed = server.push_message(BERLIN, alice, "/relay strike at the depot")
        [reply] = await server.wait_for_sent(chat_id=BERLIN)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    assert heard == [(BERLIN, ["strike", "at", "the", "depot"])]
    assert reply.text == "Report received."
    assert reply.reply_to == pushed["message_id"]
    assert server.pending_updates == []  # the updater's last getUpdates confirmed the offset


async def test_a_message_with_an_inline_keyboard_is_recorded(server, people, bot):
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton("Pledge 10 EUR", callback_data="pledge:10"),
        InlineKeyboardButton("Later", callback_data="later"),
    ]])

    message = await bot.send_message(BERLIN, "<b>Strike fund</b> needs help", parse_mode="HTML",
                                     reply_markup=keyboard)

    [record] = server.sent_to(BERLIN)
    assert (record.method, record.kind, record.text) == ("sendMessage", "text", "Strike fund needs help")
    assert [b["callback_data"] for b in record.buttons] == ["pledge:10", "later"]
    assert message.entities[0].type == "bold" and message.entities[0].length == len("Strike fund")
    assert message.reply_markup == keyboard


async def test_a_button_press_reaches_the_application_and_is_answered(server, people, bot):
    _, bob = people
    message = await bot.send_message(BERLIN, "Join the action?", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("Yes", callback_data="join")]]))
    pressed: list[str] = []

    async def on_press(update: Update, context) -> None:
        pressed.append(update.callback_query.data)
        await update.callback_query.answer("Counted")

    app = server.application_builder().build()
    app.add_handler(CallbackQueryHandler(on_press))
    await app.initialize()
    await app.start()
    await app.updater.start_polling()
    try:
        server.push_callback_query(BERLIN, bob, message.message_id, "join")
        await server.wait_for(lambda: server.callback_answers)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    assert pressed == ["join"]
    assert server.callback_answers[0]["text"] == "Counted"


async def test_a_voice_note_uploads_and_downloads_unchanged(server, people, bot):
    message = await bot.send_voice(BERLIN, voice=OGG, duration=3, caption="Field report")

    assert message.voice.duration in (3, dtm.timedelta(seconds=3))
    assert message.voice.mime_type == "audio/ogg"
    [record] = server.sent_to(BERLIN, kind="voice")
    assert record.file_bytes == OGG and record.text == "Field report"

    telegram_file = await bot.get_file(message.voice.file_id)
    assert bytes(await telegram_file.download_as_bytearray()) == OGG


async def test_a_voice_note_a_member_records_can_be_fetched_by_the_bot(server, people, bot):
    alice, _ = people
    pushed = server.push_voice(BERLIN, alice, OGG, duration=7)

    [update] = await bot.get_updates(timeout=1)

    assert update.message.voice.file_id == pushed["voice"]["file_id"]
    telegram_file = await update.message.voice.get_file()
    assert bytes(await telegram_file.download_as_bytearray()) == OGG


async def test_a_vote_on_a_ballot_arrives_as_a_poll_answer(server, people, bot):
    _, bob = people
    answers = []

    async def on_answer(update: Update, context) -> None:
        answers.append((update.poll_answer.user.id, update.poll_answer.option_ids))

    message = await bot.send_poll(BERLIN, "Fund the Lagos strike?", ["Yes", "No"],
                                  is_anonymous=False)
    app = server.application_builder().build()
    app.add_handler(PollAnswerHandler(on_answer))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
    try:
        server.push_poll_answer(message.poll.id, bob, [0])
        await server.wait_for(lambda: answers)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    assert answers == [(bob.id, (0,))]
    closed = await bot.stop_poll(BERLIN, message.message_id)
    assert closed.is_closed and [o.voter_count for o in closed.options] == [1, 0]
    assert server.polls[message.poll.id].is_closed


async def test_the_group_flood_limit_answers_retry_after_until_it_expires(server, people, bot):
    for n in range(20):
        await bot.send_message(BERLIN, f"Update {n}")

    with pytest.raises(RetryAfter) as refused:
        await bot.send_message(BERLIN, "one too many")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wait = seconds(refused.value.retry_after)
    assert wait >= 1
    with pytest.raises(RetryAfter):  # the whole chat stays closed, not just one message
        await bot.send_message(BERLIN, "still too many")
    await bot.send_message(LAGOS, "other circles are not held back")
    assert server.count_429 == 2

    await asyncio.sleep(wait)
    await bot.send_message(BERLIN, "after waiting")

    assert [r.text for r in server.sent_to(BERLIN)][-1] == "after waiting"
    assert server.count_429 == 2


async def test_the_global_limit_closes_every_chat():
    # Unscaled windows, so that a slow machine still sends four messages within one.
    limits = TelegramLimits(global_messages=3)
    async with FakeTelegram(limits=limits) as server, server.ptb_bot() as bot:
        for chat_id in range(-1001, -1005, -1):
            server.add_group(chat_id, f"Circle {chat_id}")
        for chat_id in (-1001, -1002, -1003):
            await bot.send_message(chat_id, "kickoff")

        with pytest.raises(RetryAfter):
            await bot.send_message(-1004, "kickoff")
        with pytest.raises(RetryAfter):
            await bot.send_message(-1001, "kickoff again")

    assert [r.scope for r in server.refused] == ["global", "global"]


async def test_a_private_chat_takes_about_one_message_a_second():
    async with FakeTelegram() as server, server.ptb_bot() as bot:
        carol = server.user(1003, "Carol", "carol", started=True)

        await bot.send_message(carol.id, "Your pledge is recorded.")
        with pytest.raises(RetryAfter):
            await bot.send_message(carol.id, "And another thing")

    assert [(r.chat_id, r.scope) for r in server.refused] == [(carol.id, "chat")]


async def test_telegram_refuses_what_it_would_refuse(server, people, bot):
    stranger = server.user(1009, "Dana")

    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(BERLIN, "Meeting at 6.30!", parse_mode="MarkdownV2")
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(stranger.id, "hello")
    server.push_message(stranger.id, stranger, "/start")
    await bot.send_message(stranger.id, "Welcome")
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(BERLIN, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(-42, "anyone?")

    server.push_migrate(LAGOS, -1009999)
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(LAGOS, "hello Lagos")
    assert migrated.value.new_chat_id == -1009999

    server.push_bot_removed(BERLIN)
    with pytest.raises(Forbidden, match="kicked"):
        await bot.send_message(BERLIN, "still here?")
    assert server.count_429 == 0


async def test_chats_members_and_commands_parse_as_ptb_objects(server, people, bot):
    alice, bob = people

    chat = await bot.get_chat(BERLIN)
    admins = await bot.get_chat_administrators(BERLIN)
    member = await bot.get_chat_member(BERLIN, bob.id)
    await bot.set_my_commands([("relay", "Relay a field report"), ("pledge", "Pledge money")])
    commands = await bot.get_my_commands()

    assert (chat.title, chat.type) == ("Berlin circle", "supergroup")
    assert [(a.user.id, a.status) for a in admins] == [(alice.id, "creator")]
    assert member.status == "member"
    assert [c.command for c in commands] == ["relay", "pledge"]
    assert await bot.leave_chat(BERLIN)
    with pytest.raises(Forbidden):
        await bot.send_message(BERLIN, "bye")


async def test_getupdates_honours_offset_and_long_polls(server, people, bot):
    alice, bob = people
    server.push_message(BERLIN, alice, "first")

    [first] = await bot.get_updates()
    waiting = asyncio.create_task(bot.get_updates(offset=first.update_id + 1, timeout=5))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # nothing new yet: the long poll holds
    server.push_message(BERLIN, bob, "second")
    [second] = await waiting

    assert second.message.text == "second"
    assert [u["update_id"] for u in server.pending_updates] == [second.update_id]


async def test_unknown_methods_get_a_bot_api_404(server):
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{server.base_url}{server.token}/launchRocket")

    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
