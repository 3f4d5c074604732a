"""Conversations for the chat-template differential test.

Deterministic (fixed seed): every run renders the same cases, so a failure names a case that
can be reproduced. Covers what the app sends: system/user/assistant with reasoning, multi-turn,
tool calls (arguments as objects and as JSON strings), tool results, tool lists, unicode,
empty content, list-of-parts content, thinking on/off/unset, with and without a generation
prompt.
"""
import copy
import random

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city. Températures en °C — 天气.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. \"Zürich\""},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer", "minimum": 1, "maximum": 14},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run_python",
            "description": "Run a Python snippet and return stdout.\nMultiple lines <ok> & 'quotes'.",
            "parameters": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "timeout": {"type": "number", "default": 2.5},
                    "flags": {"type": "array", "items": {"type": "string"}},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}},
                    "dry_run": {"type": "boolean", "default": False},
                    "note": {"type": ["string", "null"], "default": None},
                },
                "required": ["code"],
            },
        },
    },
]

USER_TEXTS = [
    "Hello!",
    "What is the capital of France?",
    "  leading and trailing spaces  \n",
    "Multi-line\nquestion\n\nwith blank lines",
    "中文问题：今天天气怎么样？",
    "Emoji 👩‍👩‍👧‍👦 and flags 🇯🇵 and skin tones 👍🏽",
    "Combining marks: e\u0301, n\u0303, Z\u0335a\u0336l\u0337g\u0338o",
    "RTL: مرحبا بالعالم — שלום עולם",
    "Quotes ' \" ` and backslashes \\n \\ and braces {{ x }} {% y %}",
    "",
    "<tool_response>\nnot really a tool response\n</tool_response>",
    "Tab\tseparated\tvalues\r\nwith CRLF",
    "Special tokens in text: <|im_start|> <|im_end|> <think> </think>",
    "Long " + "word " * 60,
]

ASSISTANT_TEXTS = [
    "Paris.",
    "Sure — here you go:\n\n```python\nprint('hi')\n```",
    "  padded answer  ",
    "答案是 42。",
    "",
    "<think>\ninline reasoning\n</think>\n\nThe answer after inline thinking.",
    "Answer with trailing newline\n",
]

REASONING_TEXTS = [
    "The user asks something simple. I will answer directly.",
    "\nLet me think step by step.\n1. first\n2. second\n",
    "思考中……",
    "",
]

SYSTEM_TEXTS = [
    "You are a helpful assistant.",
    "  System prompt with spaces and a newline\n",
    "Réponds en français. 日本語もOK.",
    "",
]

TOOL_ARGUMENTS = [
    {"city": "Zürich", "unit": "celsius"},
    {"city": "東京", "days": 3},
    {"code": "print(1 + 1)\nprint('x')", "timeout": 1.5, "flags": ["-u", "-B"], "env": {"A": "1"}, "dry_run": True, "note": None},
    {"code": "", "timeout": 1e-07, "flags": [], "env": {}, "dry_run": False},
    {"city": "New \"York\"", "unit": "fahrenheit", "days": 100000000000},
]

TOOL_RESULTS = [
    '{"temperature": 21.5, "condition": "sunny"}',
    "2\nx\n",
    "error: timeout after 1.5 s",
    "",
    "结果：晴天 ☀️",
]

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _tool_call(rng, args_as_string):
    args = copy.deepcopy(rng.choice(TOOL_ARGUMENTS))
    name = "get_weather" if "city" in args else "run_python"
    call_id = "".join(rng.choice(ALNUM) for _ in range(9))
    import json

    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False) if args_as_string else args},
    }


def _assistant(rng, with_reasoning, reasoning_style):
    msg = {"role": "assistant", "content": rng.choice(ASSISTANT_TEXTS)}
    if with_reasoning:
        if reasoning_style == "field":
            msg["reasoning_content"] = rng.choice(REASONING_TEXTS)
        else:
            msg["content"] = "<think>\n" + rng.choice(REASONING_TEXTS) + "\n</think>\n\n" + msg["content"]
    return msg


def _conversation(rng, index):
    messages = []
    shape = index % 10
    if rng.random() < 0.6:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_TEXTS)})
    turns = 1 + rng.randrange(3)
    use_tools = shape in (3, 4, 5, 8)
    for t in range(turns):
        user = {"role": "user", "content": rng.choice(USER_TEXTS)}
        if shape == 6 and t == 0:
            user["content"] = [{"type": "text", "text": rng.choice(USER_TEXTS)}, {"type": "text", "text": " second part"}]
        messages.append(user)
        if t == turns - 1 and rng.random() < 0.5:
            break  # end on a user turn: the usual prompt for generation
        if use_tools and rng.random() < 0.7:
            calls = [_tool_call(rng, rng.random() < 0.3) for _ in range(1 + (rng.random() < 0.3))]
            pre = _assistant(rng, rng.random() < 0.5, rng.choice(["field", "inline"]))
            pre["tool_calls"] = calls
            r = rng.random()
            if r < 0.3:
                pre["content"] = ""
            elif r < 0.45:
                pre["content"] = None  # OpenAI-style assistant turn that only calls tools
            messages.append(pre)
            for call in calls:
                result = rng.choice(TOOL_RESULTS)
                if rng.random() < 0.15:
                    result = {"result": result, "ok": True, "score": 0.5}  # structured tool output
                messages.append({"role": "tool", "tool_call_id": call["id"], "name": call["function"]["name"],
                                 "content": result})
        messages.append(_assistant(rng, rng.random() < 0.6, rng.choice(["field", "inline"])))
    if shape == 9:
        messages.append({"role": "user", "content": None})
    return messages, use_tools


def cases(count=64, seed=20261127):
    rng = random.Random(seed)
    out = []
    for i in range(count):
        messages, use_tools = _conversation(rng, i)
        case = {"id": f"conv{i:03d}", "messages": messages, "add_generation_prompt": i % 3 != 2}
        if use_tools or i % 7 == 0:
            case["tools"] = TOOLS if i % 2 == 0 else TOOLS[:1]
        thinking = i % 4
        if thinking == 1:
            case["enable_thinking"] = True
        elif thinking == 2:
            case["enable_thinking"] = False
        if i % 5 == 0:
            case["bos_token"] = "<s>"
            case["eos_token"] = "</s>"
        elif i % 5 == 1:
            case["eos_token"] = "<|im_end|>"
        out.append(case)
    # Fixed edge cases: a lone user turn, an empty message list, only a system message.
    out.append({"id": "edge-single-user", "messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": True})
    out.append({"id": "edge-empty", "messages": [], "add_generation_prompt": True})
    out.append({"id": "edge-system-only", "messages": [{"role": "system", "content": "S"}], "add_generation_prompt": True})
    out.append({"id": "edge-thinking-off-no-prompt", "messages": [{"role": "user", "content": "Hi"}],
                "add_generation_prompt": False, "enable_thinking": False})
    out.append({"id": "edge-vision-parts", "add_generation_prompt": True, "extra": "image and video parts",
                "messages": [{"role": "system", "content": [{"type": "text", "text": "Look carefully."}]},
                             {"role": "user", "content": [{"type": "image", "image": "file:///a.png"},
                                                          {"type": "text", "text": "What is this?"},
                                                          {"type": "video", "video": "file:///b.mp4"}]}]})
    out.append({"id": "edge-system-image", "add_generation_prompt": True,
                "messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
                             {"role": "user", "content": "hi"}]})
    return out
