"""Issue 20: what works today works on both APIs. Existing end-to-end tests, run unchanged against
a function with OPENAI_API=responses (the real openai SDK against the fake's /v1/responses).

Tests that read the request's chat `messages` see them through `ChatView`: the Responses body,
translated back by the fake's `chat_messages` (instructions -> system, input_text / input_image
-> text / image_url), so the same assertions check what the Responses request carried."""

import json

import pytest

from tests.e2e import test_answer_e2e as answer
from tests.e2e import test_faults_e2e as faults
from tests.e2e import test_files_e2e as files
from tests.e2e import test_secrets_e2e as secrets
from tests.e2e import test_shortcuts_and_faults_e2e as shortcuts
from tests.e2e import test_usage_e2e as usage
from tests.fakes.openai_api import Plan, words

RESPONSES = {"OPENAI_API": "responses"}


class _SeenView:
    def __init__(self, seen):
        self._seen = seen

    def __getattr__(self, name):
        if name == "body":
            body = self._seen.body
            assert "input" in body and "messages" not in body, "not a Responses API request"
            return {**body, "messages": self._seen.messages}
        return getattr(self._seen, name)


class ChatView:
    """The fake OpenAI, with each recorded Responses request readable as chat messages."""

    def __init__(self, fake):
        object.__setattr__(self, "_fake", fake)

    def __getattr__(self, name):
        if name == "requests":
            return [_SeenView(s) for s in self._fake.requests]
        return getattr(self._fake, name)

    def __setattr__(self, name, value):
        setattr(self._fake, name, value)


def on_responses(start_bot):
    def start(**env):
        return start_bot(**{**RESPONSES, **env})

    return start


BOT_TESTS = [
    answer.test_dm_answer_streams_natively_and_equals_model_output,
    answer.test_mention_is_stripped_and_answered_in_the_thread,
    answer.test_thread_context_roles_and_question_exactly_once,
    answer.test_long_answer_continues_in_follow_up_messages,
    files.test_an_image_reaches_the_model_as_an_image_part,
    files.test_a_text_file_and_a_pdf_arrive_as_text,
    faults.test_answer_deleted_while_streaming_stops_the_model_quietly,
    shortcuts.test_stop_on_a_finished_answer_says_so,
]
START_BOT_TESTS = [
    answer.test_stream_recipient_is_the_asking_users_own_team,
    answer.test_channel_prompt_and_system_prompt_reach_the_model,
    files.test_vision_off_sends_no_image_and_says_so,
    faults.test_model_401_with_a_rotated_key_in_place_recovers,
    shortcuts.test_model_stall_times_out_with_a_visible_error,
    usage.test_firestore_down_answers_still_flow,
]


@pytest.mark.parametrize("test", BOT_TESTS, ids=lambda t: t.__name__)
def test_on_responses_api(test, start_bot, slack, model):
    test(start_bot(**RESPONSES), slack, ChatView(model))


@pytest.mark.parametrize("test", START_BOT_TESTS, ids=lambda t: t.__name__)
def test_on_responses_api_with_settings(test, start_bot, slack, model):
    test(on_responses(start_bot), slack, ChatView(model))


@pytest.mark.parametrize("native", [True, False], ids=["native", "update"])
def test_stop_mid_stream_on_responses_api(start_bot, slack, model, native):
    shortcuts.test_stop_mid_stream_closes_the_model_stream_and_marks_the_answer(
        start_bot(**RESPONSES), slack, ChatView(model), native
    )


@pytest.mark.parametrize(
    "plan, words_expected",
    [
        (Plan(fail="401"), "401"),
        (Plan(fail="500"), "error (500)"),
        (Plan(fail="429"), "429"),
        (Plan(tokens=words("this answer will be cut"), fail="cut", fail_after=3), "cut off"),
    ],
    ids=["401", "500", "429", "cut"],
)
def test_model_failures_on_responses_api(start_bot, slack, model, plan, words_expected):
    shortcuts.test_model_failures_end_with_a_visible_error(start_bot(**RESPONSES), slack, ChatView(model), plan, words_expected)


def test_openai_key_rotation_on_responses_api(start_bot, slack, model):
    from tests.fakes.secret_manager import FakeSecretManager

    fake = FakeSecretManager().start()
    try:
        for var, sid in secrets.IDS.items():
            fake.set(sid, secrets.VALUES[var])

        def start_sm_bot(**env):  # as test_secrets_e2e's fixture, on the Responses API
            refs = {var: fake.ref(sid) for var, sid in secrets.IDS.items()}
            return start_bot(SECRET_MANAGER_ENDPOINT=fake.url, **{**RESPONSES, **refs, **env})

        secrets.test_openai_key_rotation_retries_once_with_the_new_key(start_sm_bot, fake, slack, ChatView(model))
    finally:
        fake.stop()


def test_budget_on_responses_api(start_bot, slack, model, firestore_emulator):
    usage.test_a_budget_refuses_the_next_question_without_calling_the_model(
        on_responses(start_bot), slack, ChatView(model), firestore_emulator
    )


@pytest.mark.parametrize(
    "profile, named",
    [
        ({"file_search": {"vector_store_ids": ["vs_1"]}}, "file_search"),
        ({"code_interpreter": True}, "code_interpreter"),
        ({"web_search": True}, "web_search"),
    ],
)
def test_hosted_tools_in_a_profile_refuse_chat_completions_naming_the_channel_and_key(profile, named):
    """Documents and data analysis are hosted tools too: on chat_completions they would be ignored
    while "Add to knowledge" kept uploading files no answer reads; the function refuses to start."""
    from teambot.core.settings import SettingError, load_settings

    with pytest.raises(SettingError) as refused:
        load_settings({"OPENAI_API": "chat_completions", "CHANNEL_PROFILES": json.dumps({"C0X": profile})})
    assert "'C0X'" in str(refused.value) and named in str(refused.value) and "OPENAI_API=responses" in str(refused.value)
