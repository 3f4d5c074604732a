"""Writes tests/engine/chat/snippets.json: small templates, one per Jinja feature, with their
variables. The expected outputs are not stored; render_reference.py computes them with jinja2."""
import json
import sys
S = []
def s(sname, template, **vars):
    S.append({"name": sname, "template": template, "vars": vars})
msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "bye"}]
s("if_elif_else", "{% for x in xs %}{% if x > 2 %}big{% elif x == 2 %}two{% else %}small{% endif %},{% endfor %}", xs=[1, 2, 3])
s("loop_vars", "{% for m in msgs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}|{% endfor %}", msgs=msgs)
s("loop_prev_next", "{% for m in msgs %}[{{ loop.previtem.role if loop.previtem is defined else 'none' }}>{{ m.role }}>{{ loop.nextitem.role if loop.nextitem else 'end' }}]{% endfor %}", msgs=msgs)
s("loop_cycle_changed", "{% for x in xs %}{{ loop.cycle('a','b','c') }}{% if loop.changed(x) %}!{% endif %}{% endfor %}", xs=[1, 1, 2, 2, 3])
s("for_else", "{% for x in xs %}{{ x }}{% else %}empty{% endfor %}|{% for x in ys %}{{ x }}{% else %}empty{% endfor %}", xs=[], ys=[1])
s("loop_filter", "{% for m in msgs if m.role != 'system' %}{{ loop.index }}:{{ m.content }}{{ ',' if not loop.last }}{% endfor %}", msgs=msgs)
s("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 5 %}{% break %}{% endif %}{{ x }}{% endfor %}")
s("nested_loops", "{% for a in [1,2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }}{% endfor %}{{ loop.index }};{% endfor %}")
s("unpack_items", "{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}{% for k, v in d.items() %}{{ k }}{% endfor %}", d={"b": 1, "a": [1, 2], "c": None})
s("dict_methods", "{{ d.keys()|list }} {{ d.values()|list }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 5) }} {{ d['b'] }}", d={"b": 1, "a": "x"})
s("set_scoping", "{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}")
s("namespace", "{% set ns = namespace(count=0, last=none) %}{% for i in [3,4,5] %}{% set ns.count = ns.count + i %}{% set ns.last = i %}{% endfor %}{{ ns.count }} {{ ns.last }}")
s("namespace_dict_arg", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}")
s("block_set", "{% set body %}\n  Hello {{ name }}\n{% endset %}[{{ body }}]{% set t | trim %}  padded  {% endset %}[{{ t }}]", name="W")
s("macro_defaults", "{% macro greet(name, punct='!', upper=false) %}{{ (name|upper if upper else name) ~ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', upper=true) }}")
s("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}")
s("macro_missing_arg", "{% macro m(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ m(1) }}")
s("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inner {{ 1 + 1 }}{% endcall %}")
s("call_block_args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1,2]) %}<{{ item }}>{% endcall %}")
s("macro_outer_scope", "{% set g = 'G' %}{% macro m() %}{{ g }}{{ later }}{% endmacro %}{% set later = 'L' %}{{ m() }}")
s("whitespace_control", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c {{- ' d ' -}} e\n")
s("trim_lstrip_blocks", "<ul>\n    {% for x in xs %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>\n", xs=[1, 2])
s("lstrip_plus", "x\n    {%+ if true %}y{% endif %}\n  {#- c -#}  z\n  {# comment #}\nw")
s("trailing_newline", "line\n\n")
s("crlf_source", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc\r\n")
s("slicing", "{{ xs[1:] }}{{ xs[:-1] }}{{ xs[::-1] }}{{ xs[::2] }}{{ xs[-2:] }}{{ 'hello'[1:3] }}{{ 'héllo'[::-1] }}{{ xs[5:] }}", xs=[1, 2, 3, 4])
s("in_not_in", "{{ 'a' in 'cat' }}{{ 'z' not in 'cat' }}{{ 2 in xs }}{{ 'k' in d }}{{ 'q' in d }}{{ 'x' in undefined_thing }}", xs=[1, 2], d={"k": 1})
s("tilde_concat", "{{ 1 ~ 'a' ~ none ~ true ~ 1.5 ~ undefined_var ~ [1] }}")
s("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 - 4 }} {{ 1.5 + 1 }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 10 / 4 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 2.0 }} {{ -0.0 }} {{ 123456789.125 }}")
s("comparisons", "{{ 1 < 2 }}{{ 2 <= 2 }}{{ 'a' < 'b' }}{{ 1 == 1.0 }}{{ true == 1 }}{{ [1,2] == [1,2] }}{{ none == none }}{{ 1 != 2 }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}")
s("and_or_not", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ not 0 }} {{ '' or [] or 'z' }} {{ none and 1 }} {{ not (1 and 0) }}")
s("ternary", "{{ 'y' if flag else 'n' }} {{ 'y' if not flag else 'n' }} [{{ 'only' if false }}]", flag=True)
s("string_methods", "{{ s.startswith('He') }} {{ s.endswith(('x', 'ld')) }} {{ s.split() }} {{ s.split('l') }} {{ s.split('l', 1) }} {{ s.rsplit('l', 1) }} [{{ p.strip() }}] [{{ p.lstrip() }}] [{{ p.rstrip() }}] {{ 'xxhixx'.strip('x') }} {{ s.replace('l', 'L') }} {{ s.replace('l', 'L', 1) }} {{ s.upper() }} {{ s.lower() }} {{ 'hello wORLD-foo'.title() }} {{ '{} and {}'.format(1, 'b') }} {{ '{0}{name}'.format('x', name='y') }} {{ s.find('o') }} {{ s.count('l') }}", s="Hello World", p="  \n pad \t ")
s("string_index_len", "{{ s[0] }}{{ s[-1] }}{{ s|length }}{{ s|list }}", s="añb🙂")
s("filters_basic", "{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ xs|length }}|{{ xs|count }}|{{ 5|string }}|{{ xs|join(', ') }}|{{ xs|first }}|{{ xs|last }}|{{ xs|reverse|list }}|{{ 'abc'|reverse }}|{{ 'abc'|list }}|{{ undefined_v|default('dflt') }}|{{ ''|default('e', true) }}|{{ none|d('n') }}", xs=[3, 1, 2])
s("filters_case", "{{ 'hello world'|capitalize }} {{ 'hello WORLD (foo-bar) x_y'|title }} {{ 'AbC'|lower }} {{ 'AbC'|upper }} {{ 'a-b-c'|replace('-', '+') }}")
s("filters_numbers", "{{ '42'|int }} {{ ' 7 '|int }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 3.7|int }} {{ '2.5'|float }} {{ 'nan?'|float }} {{ 3|float }} {{ -3|abs }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ [1,2,3]|sum }} {{ [3,1,2]|min }} {{ [3,1,2]|max }}")
s("filters_map_select", "{{ msgs|map(attribute='role')|list }} {{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join('+') }} {{ msgs|rejectattr('role', 'eq', 'user')|list|length }} {{ [1,2,3,4]|select('odd')|list }} {{ [1,2,3,4]|reject('even')|list }} {{ ['a','b']|map('upper')|list }} {{ msgs|selectattr('missing')|list }} {{ xs|map('string')|join }}", msgs=msgs, xs=[1, None, True])
s("filters_sort_unique", "{{ ['b','A','a','c']|sort }} {{ ['b','A','a','c']|sort(case_sensitive=true) }} {{ [3,1,2]|sort(reverse=true) }} {{ ['a','A','b']|unique|list }} {{ msgs|sort(attribute='role')|map(attribute='content')|join }}", msgs=msgs)
s("tojson_variants", "{{ d|tojson }}\n{{ d|tojson(indent=2) }}\n{{ d|tojson(ensure_ascii=true) }}\n{{ d|tojson(sort_keys=true) }}\n{{ d|tojson(separators=(',', ':')) }}\n{{ [] |tojson(indent=4) }}{{ {}|tojson }}{{ 'a\"b\\\\c\\n\\t\\u0001'|tojson }}{{ none|tojson }}{{ 1.0|tojson }}{{ 1e-7|tojson }}{{ true|tojson }}", d={"z": 1, "a": [1.5, None, True, "é中🙂"], "m": {"k": "v\n\"q\"", "e": {}}, "big": 12345678901234, "f": 0.1})
s("tojson_indent_string", "{{ d|tojson(indent='\\t') }}{{ d|tojson(indent=0) }}", d={"a": [1, {"b": 2}]})
s("safe_and_markup", "{% set x = '<b>'|safe %}{{ x }}{{ x + '<i>' }}{{ '<i>' + x }}{{ x ~ '<i>' }}{{ '<a>'|e }}{{ '<a>'|escape + '<'}}")
s("tests_types", "{% for v in vals %}{{ v is string }}{{ v is number }}{{ v is integer }}{{ v is float }}{{ v is boolean }}{{ v is mapping }}{{ v is sequence }}{{ v is iterable }}{{ v is none }}{{ v is defined }}{{ v is true }}{{ v is false }};{% endfor %}{{ nope is undefined }}{{ nope is sequence }}{{ nope is iterable }}{{ nope is defined }}", vals=[1, 1.5, "s", True, False, None, [1], {"a": 1}, ""])
s("tests_compare", "{{ 3 is eq 3 }}{{ 3 is equalto 4 }}{{ 3 is ne(4) }}{{ 3 is gt 2 }}{{ 3 is lt(2) }}{{ 3 is ge 3 }}{{ 3 is le 2 }}{{ 2 is in [1,2] }}{{ 'a' is in 'abc' }}{{ 4 is divisibleby 2 }}{{ 3 is odd }}{{ 3 is even }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ none is sameas none }}{{ range is callable }}{{ 'x' is not string }}")
s("undefined_semantics", "[{{ nope }}][{{ nope|length }}][{% for x in nope %}x{% endfor %}][{{ nope is none }}][{{ d.missing }}][{{ d.missing is defined }}][{{ xs[10] is defined }}][{{ not nope }}][{{ nope == nope }}][{{ d.get('x') is none }}]", d={"a": 1}, xs=[1])
s("attr_vs_item", "{{ d.items is callable }} {{ d['items'] }} {{ d.keys|string|length > 0 }} {{ d.a }} {{ d['a'] }} {{ xs.0 }} {{ xs[0] }}", d={"items": "ITEMS", "a": 1}, xs=["first"])
s("none_attr", "{{ n.foo is defined }}{{ n is none }}", n=None)
s("repr_output", "{{ xs }} {{ d }} {{ t }} {{ none }} {{ true }} {{ 'it''s' }} {{ [\"it's\", 'say \"hi\"', 'a\\nb', 'é'] }} {{ (1,) }} {{ (1, 'a') }} {{ 1.0 }} {{ [0.1, 1e100, -2.5e-10] }}", xs=[1, "a", None, True, 1.5], d={"k": [1, {"n": None}]}, t="x")
s("range_global", "{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ range(5, 0, -2)|list }}{{ range(0)|list }}")
s("dict_literal", "{% set d = {'a': 1, 'b': [1, 2], 'c': {'d': none}} %}{{ d }}{{ d|tojson }}{{ dict(x=1, y='z') }}")
s("string_escapes", "{{ 'tab\\there' }}|{{ \"new\\nline\" }}|{{ 'uni\\u00e9\\U0001F642' }}|{{ 'quote\\'s' }}|{{ 'back\\\\slash' }}|{{ 'x' 'y' }}")
s("raise_in_branch_not_taken", "{% if false %}{{ raise_exception('nope') }}{% endif %}ok")
s("indent_filter", "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent('> ', blank=true) }}")
s("format_filter", "{{ '%s-%d %%'|format('x', 3) }}")
s("int_float_output", "{{ 3 }} {{ 3.0 }} {{ 10 / 5 }} {{ 2 ** -1 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1/3 }}")
s("chained_filters_precedence", "{{ -1|abs }} {{ 'a' ~ 'b'|upper }} {{ xs|length + 1 }} {{ not xs|length }} {{ xs|map(attribute='a')|list }}", xs=[{"a": 1}, {"b": 2}])
s("messages_realistic", "{%- for message in messages %}\n{%- if message.role == 'user' %}\n<|im_start|>user\n{{ message.content }}<|im_end|>\n{%- elif message.role == 'assistant' %}\n<|im_start|>assistant\n{{ message.content }}<|im_end|>\n{%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n<|im_start|>assistant\n{%- endif %}\n", messages=msgs, add_generation_prompt=True)
s("loop_in_macro_with_loop_var", "{% macro r(xs) %}{% for x in xs %}{{ loop.index }}{% endfor %}{% endmacro %}{% for y in [1] %}{{ r([5,6]) }}{{ loop.index }}{% endfor %}")
s("filter_block", "{% filter upper %}shout {{ 'this' }}{% endfilter %}")
s("unicode_methods", "{{ 'ÉCOLE'.lower() }} {{ 'straße'.upper() }} {{ 'über'|capitalize }} {{ '  \u00a0x\u3000 '.strip() }}|")
s("is_sequence_on_string_arg", "{% for k, v in args|items %}{{ v | tojson | safe if v is mapping or (v is sequence and v is not string) else v | string }};{% endfor %}", args={"a": "s", "b": [1, 2], "c": {"x": 1}, "d": 3, "e": True, "f": None, "g": 1.25})
s("raw_block", "a\n  {% raw %}{{ not evaluated }} {% if %}\n  {% endraw %}\nb{%- raw -%}  x  {%- endraw -%}  c")
s("slicing_negative_steps", "{{ xs[3:0:-1] }}{{ xs[-1:-3:-1] }}{{ xs[10:-10:-2] }}{{ 'abcdef'[-2::-2] }}", xs=[0, 1, 2, 3, 4])
s("json_ints_floats", "{{ d|tojson }} {{ d.a + d.b }} {{ d.c * 2 }} {{ d.a / 2 }}", d={"a": 3, "b": 2.5, "c": -7})
# Random JSON values (printable unicode, controls, awkward floats, deep nesting) through str(),
# repr, tojson and string methods: Python's formatting rules are easy to get subtly wrong.
import random, struct
rng = random.Random(5)
def rand_str():
    cps = []
    for _ in range(rng.randint(0, 12)):
        r = rng.random()
        if r < 0.4: cps.append(rng.randint(0x20, 0x7e))
        elif r < 0.5: cps.append(rng.randint(0, 0x1f))
        elif r < 0.6: cps.append(rng.choice([0x7f, 0x85, 0xa0, 0xad, 0x2028, 0x200b, 0xfeff, 0x3000, 0x1680]))
        elif r < 0.8: cps.append(rng.randint(0x80, 0xd7ff))
        else: cps.append(rng.randint(0xe000, 0x10ffff))
    cps = [c for c in cps if chr(c).isprintable() or c < 0x80 or c in (0x85, 0xa0, 0xad, 0x2028, 0x200b, 0xfeff, 0x3000, 0x1680) or (0xe000 <= c <= 0xf8ff) or c >= 0xf0000]
    return "".join(map(chr, cps)) + rng.choice(["", "'", '"', "'\"", "\\"])
def rand_float():
    r = rng.random()
    if r < 0.3: return struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
    if r < 0.6: return rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30)
    return round(rng.uniform(-1000, 1000), rng.randint(0, 6))
def rand_value(d=0):
    r = rng.random()
    if d > 3 or r < 0.25: return rand_str()
    if r < 0.4: return rand_float()
    if r < 0.5: return rng.randint(-2**62, 2**62)
    if r < 0.55: return rng.choice([True, False, None])
    if r < 0.75: return [rand_value(d+1) for _ in range(rng.randint(0, 4))]
    return {rand_str(): rand_value(d+1) for _ in range(rng.randint(0, 4))}
import math
vals = []
while len(vals) < 150:
    v = rand_value()
    dumped = json.dumps(v)
    if "NaN" in dumped or "Infinity" in dumped: continue
    vals.append(v)
t = "{% for x in xs %}{{ x }}|{{ x|tojson }}|{{ x|tojson(indent=2, ensure_ascii=true) }}|{{ x|string|length }}|{{ x is string and x|trim }}|{{ x is string and x.split() }}|{{ x is string and x|upper }}\n{% endfor %}"
s("random_values", t, xs=vals)
json.dump(S, open(sys.argv[1] if len(sys.argv) > 1 else "snippets.json", "w", encoding="utf-8"), ensure_ascii=False, indent=1)
print(len(S))
