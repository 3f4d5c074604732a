#include "parser.h"

#include <set>

#include "builtins.h"
#include "syntax_error.h"

namespace hlwq::chat::jinja {
namespace {

StmtPtr new_stmt(Stmt::Kind kind, int line, std::string text = "") {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->line = line;
  s->text = std::move(text);
  return s;
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  Body parse_template() {
    auto [body, end] = parse_body({});
    (void)end;
    return body;
  }

 private:
  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(i_ + n, t_.size() - 1)]; }
  const Token& next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().value == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    ++i_;
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    ++i_;
    return true;
  }
  [[noreturn]] void fail(const std::string& message, const Token& at) const {
    throw TemplateSyntaxError(message, at.line, at.column);
  }
  [[noreturn]] void fail_here(const std::string& message) const { fail(message, cur()); }
  std::string describe(const Token& tk) const {
    switch (tk.type) {
      case Tok::Eof: return "end of template";
      case Tok::VarEnd: return "end of print statement";
      case Tok::BlockEnd: return "end of statement block";
      case Tok::Text: return "template data";
      default: return "'" + tk.value + "'";
    }
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail_here(std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) fail_here("expected a name, got " + describe(cur()));
    return next().value;
  }
  // The end of a block statement's header: jinja2 allows a Python-style colon before it.
  void expect_header_end() {
    skip_op(":");
    expect_block_end();
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd) fail_here("expected end of statement block, got " + describe(cur()));
    ++i_;
  }

  // Parses statements until a block tag whose name is in `ends`; returns the body and that
  // name, leaving the stream after the tag name.
  std::pair<Body, std::string> parse_body(const std::set<std::string>& ends) {
    Body body;
    while (true) {
      const Token& tk = cur();
      if (tk.type == Tok::Eof) {
        if (!ends.empty()) {
          std::string names;
          for (const auto& e : ends) names += (names.empty() ? "'" : " or '") + e + "'";
          fail_here("unexpected end of template; expected " + names + " to close an open block");
        }
        return {std::move(body), ""};
      }
      if (tk.type == Tok::Text) {
        auto s = new_stmt(Stmt::Kind::Text, tk.line, tk.value);
        body.push_back(std::move(s));
        ++i_;
      } else if (tk.type == Tok::VarBegin) {
        ++i_;
        auto s = new_stmt(Stmt::Kind::Output, tk.line);
        s->expr = parse_tuple();
        if (cur().type != Tok::VarEnd) fail_here("expected end of print statement, got " + describe(cur()));
        ++i_;
        body.push_back(std::move(s));
      } else if (tk.type == Tok::BlockBegin) {
        ++i_;
        if (cur().type != Tok::Name) fail_here("tag name expected");
        std::string name = cur().value;
        if (ends.count(name)) {
          ++i_;
          return {std::move(body), name};
        }
        if (++block_depth_ > kMaxNesting) fail_here("blocks nested too deeply");
        body.push_back(parse_statement());
        --block_depth_;
      } else {
        fail_here("unexpected " + describe(tk));
      }
    }
  }

  StmtPtr parse_statement() {
    const Token& tk = next();
    const std::string& n = tk.value;
    if (n == "if") return parse_if(tk.line);
    if (n == "for") return parse_for(tk.line);
    if (n == "set") return parse_set(tk.line);
    if (n == "macro") return parse_macro(tk.line);
    if (n == "call") return parse_call_block(tk.line);
    if (n == "filter") return parse_filter_block(tk.line);
    if (n == "break" || n == "continue") {
      if (loop_depth_ == 0) fail("'" + n + "' outside of a loop", tk);
      expect_block_end();
      return new_stmt(n == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, tk.line);
    }
    static const std::set<std::string> known_ends = {"endif", "endfor", "endset", "endmacro", "endcall",
                                                    "endfilter", "elif", "else"};
    if (known_ends.count(n)) fail("Encountered unknown tag '" + n + "'. Jinja was looking for no such tag here", tk);
    fail("Encountered unknown tag '" + n + "'", tk);
  }

  StmtPtr parse_if(int line) {
    auto s = new_stmt(Stmt::Kind::If, line);
    ExprPtr cond = parse_tuple(/*with_condexpr=*/false);  // as jinja2: `if a if b` is an error
    expect_header_end();
    while (true) {
      auto [body, end] = parse_body({"elif", "else", "endif"});
      s->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "elif") {
        cond = parse_tuple(false);
        expect_header_end();
      } else if (end == "else") {
        expect_header_end();
        auto [else_body, end2] = parse_body({"endif"});
        (void)end2;
        s->branches.emplace_back(nullptr, std::move(else_body));
        expect_block_end();
        return s;
      } else {
        expect_block_end();
        return s;
      }
    }
  }

  StmtPtr parse_for(int line) {
    auto s = new_stmt(Stmt::Kind::For, line);
    s->targets.push_back(expect_name());
    while (skip_op(",")) {
      s->unpack = true;
      if (is_name("in")) break;
      s->targets.push_back(expect_name());
    }
    if (!skip_name("in")) fail_here("expected 'in' in for loop, got " + describe(cur()));
    s->expr = parse_tuple(/*with_condexpr=*/false);
    if (skip_name("if")) s->loop_filter = parse_expression();
    if (is_name("recursive")) fail_here("recursive loops are not supported");
    expect_header_end();
    ++loop_depth_;
    auto [body, end] = parse_body({"endfor", "else"});
    --loop_depth_;
    s->body = std::move(body);
    if (end == "else") {
      expect_header_end();
      auto [else_body, end2] = parse_body({"endfor"});
      (void)end2;
      s->else_body = std::move(else_body);
    }
    expect_block_end();
    return s;
  }

  StmtPtr parse_set(int line) {
    std::string first = expect_name();
    if (skip_op(".")) {
      auto s = new_stmt(Stmt::Kind::SetAttr, line);
      auto obj = make(Expr::Kind::Name, line);
      obj->name = first;
      s->expr = std::move(obj);
      s->text = expect_name();
      expect_op("=");
      s->value = parse_tuple();
      expect_block_end();
      return s;
    }
    std::vector<std::string> targets{first};
    bool unpack = false;
    while (skip_op(",")) {
      unpack = true;
      if (is_op("=")) break;
      targets.push_back(expect_name());
    }
    if (skip_op("=")) {
      auto s = new_stmt(Stmt::Kind::Set, line);
      s->targets = std::move(targets);
      s->unpack = unpack;
      s->expr = parse_tuple();
      expect_block_end();
      return s;
    }
    if (unpack) fail_here("expected '=' after set targets");
    auto s = new_stmt(Stmt::Kind::SetBlock, line);
    s->targets = std::move(targets);
    if (is_op("|")) s->filter = parse_filter_chain(nullptr);
    expect_header_end();
    auto [body, end] = parse_body({"endset"});
    (void)end;
    s->body = std::move(body);
    expect_block_end();
    return s;
  }

  void parse_params(std::vector<MacroParam>& params) {
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      MacroParam p{expect_name(), nullptr};
      if (skip_op("=")) p.default_value = parse_expression();
      else if (!params.empty() && params.back().default_value)
        fail_here("non-default argument follows default argument");
      params.push_back(std::move(p));
    }
    expect_op(")");
  }

  // A macro or call-block body is its own function: break/continue of an enclosing loop do not
  // reach into it, so it parses with no loop open.
  Body parse_callable_body(const char* end_tag) {
    const int saved = loop_depth_;
    loop_depth_ = 0;
    Body body = parse_body({end_tag}).first;
    loop_depth_ = saved;
    return body;
  }

  StmtPtr parse_macro(int line) {
    auto s = new_stmt(Stmt::Kind::Macro, line);
    s->text = expect_name();
    parse_params(s->params);
    expect_header_end();
    s->body = parse_callable_body("endmacro");
    expect_block_end();
    return s;
  }

  StmtPtr parse_call_block(int line) {
    auto s = new_stmt(Stmt::Kind::CallBlock, line);
    if (is_op("(")) parse_params(s->params);
    s->expr = parse_expression();
    if (s->expr->kind != Expr::Kind::Call) fail("expected a call in the call block", t_[i_ - 1]);
    expect_header_end();
    s->body = parse_callable_body("endcall");
    expect_block_end();
    return s;
  }

  StmtPtr parse_filter_block(int line) {
    auto s = new_stmt(Stmt::Kind::FilterBlock, line);
    s->filter = parse_filter_chain(nullptr, /*first_has_pipe=*/false);
    expect_header_end();
    auto [body, end] = parse_body({"endfilter"});
    (void)end;
    s->body = std::move(body);
    expect_block_end();
    return s;
  }

  // ---- expressions, lowest precedence first (jinja2's parser order) ----

  ExprPtr make(Expr::Kind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  // `a, b` without parentheses makes a tuple (print and set statements, for iterables).
  ExprPtr parse_tuple(bool with_condexpr = true) {
    int line = cur().line;
    ExprPtr first = with_condexpr ? parse_expression() : parse_or();
    if (!is_op(",")) return first;
    auto t = make(Expr::Kind::Tuple, line);
    t->children.push_back(std::move(first));
    while (skip_op(",")) {
      if (cur().type == Tok::BlockEnd || cur().type == Tok::VarEnd || is_op("=") || is_name("if")) break;
      t->children.push_back(with_condexpr ? parse_expression() : parse_or());
    }
    return t;
  }

  ExprPtr parse_expression() {
    // Deeply nested input would exhaust the stack; real templates nest a handful of levels.
    if (++nesting_ > kMaxNesting) fail_here("expression nested too deeply");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{nesting_};
    int line = cur().line;
    ExprPtr e = parse_or();
    while (skip_name("if")) {
      auto c = make(Expr::Kind::Cond, line);
      c->children.push_back(parse_or());
      c->children.push_back(std::move(e));
      c->children.push_back(skip_name("else") ? parse_expression() : nullptr);
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(const char* op, ExprPtr l, ExprPtr r, int line) {
    auto b = make(Expr::Kind::Binary, line);
    b->name = op;
    b->children.push_back(std::move(l));
    b->children.push_back(std::move(r));
    return b;
  }

  ExprPtr parse_or() {
    int line = cur().line;
    ExprPtr l = parse_and();
    while (skip_name("or")) l = binary("or", std::move(l), parse_and(), line);
    return l;
  }
  ExprPtr parse_and() {
    int line = cur().line;
    ExprPtr l = parse_not();
    while (skip_name("and")) l = binary("and", std::move(l), parse_not(), line);
    return l;
  }
  ExprPtr parse_not() {
    int line = cur().line;
    if (skip_name("not")) {
      auto u = make(Expr::Kind::Unary, line);
      u->name = "not";
      u->children.push_back(parse_not());
      return u;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    int line = cur().line;
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().type == Tok::Op &&
          (cur().value == "==" || cur().value == "!=" || cur().value == "<" || cur().value == ">" ||
           cur().value == "<=" || cur().value == ">=")) {
        op = next().value;
      } else if (skip_name("in")) {
        op = "in";
      } else if (is_name("not") && peek().type == Tok::Name && peek().value == "in") {
        i_ += 2;
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(Expr::Kind::Compare, line);
        cmp->children.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->children.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }
  ExprPtr parse_math1() {
    int line = cur().line;
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = next().value;
      l = binary(op == "+" ? "+" : "-", std::move(l), parse_concat(), line);
    }
    return l;
  }
  ExprPtr parse_concat() {
    int line = cur().line;
    ExprPtr l = parse_math2();
    while (skip_op("~")) l = binary("~", std::move(l), parse_math2(), line);
    return l;
  }
  ExprPtr parse_math2() {
    int line = cur().line;
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      static const std::set<std::string> ops = {"*", "/", "//", "%"};
      std::string op = next().value;
      l = binary(ops.find(op)->c_str(), std::move(l), parse_pow(), line);
    }
    return l;
  }
  ExprPtr parse_pow() {
    int line = cur().line;
    ExprPtr l = parse_unary(true);
    while (skip_op("**")) l = binary("**", std::move(l), parse_unary(true), line);
    return l;
  }
  ExprPtr parse_unary(bool with_filter) {
    if (++nesting_ > kMaxNesting) fail_here("expression nested too deeply");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{nesting_};
    int line = cur().line;
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      auto u = make(Expr::Kind::Unary, line);
      u->name = next().value;
      u->children.push_back(parse_unary(false));
      node = std::move(u);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& tk = cur();
    auto lit = [&](Value v) {
      auto e = make(Expr::Kind::Literal, tk.line);
      e->literal = std::move(v);
      return e;
    };
    switch (tk.type) {
      case Tok::Name: {
        ++i_;
        const std::string& n = tk.value;
        if (n == "true" || n == "True") return lit(Value(true));
        if (n == "false" || n == "False") return lit(Value(false));
        if (n == "none" || n == "None") return lit(Value(nullptr));
        auto e = make(Expr::Kind::Name, tk.line);
        e->name = n;
        return e;
      }
      case Tok::String: {
        std::string s;
        while (cur().type == Tok::String) s += next().value;  // adjacent literals concatenate
        return lit(Value(s));
      }
      case Tok::Int: ++i_; return lit(Value(tk.int_value));
      case Tok::Float: ++i_; return lit(Value(tk.float_value));
      case Tok::Op:
        if (tk.value == "(") {
          ++i_;
          if (skip_op(")")) return make(Expr::Kind::Tuple, tk.line);
          ExprPtr e = parse_expression();
          if (is_op(",")) {
            auto t = make(Expr::Kind::Tuple, tk.line);
            t->children.push_back(std::move(e));
            while (skip_op(",")) {
              if (is_op(")")) break;
              t->children.push_back(parse_expression());
            }
            e = std::move(t);
          }
          expect_op(")");
          return e;
        }
        if (tk.value == "[") {
          ++i_;
          auto l = make(Expr::Kind::List, tk.line);
          while (!is_op("]")) {
            if (!l->children.empty()) expect_op(",");
            if (is_op("]")) break;
            l->children.push_back(parse_expression());
          }
          expect_op("]");
          return l;
        }
        if (tk.value == "{") {
          ++i_;
          auto d = make(Expr::Kind::Dict, tk.line);
          while (!is_op("}")) {
            if (!d->children.empty()) expect_op(",");
            if (is_op("}")) break;
            d->children.push_back(parse_expression());
            expect_op(":");
            d->children.push_back(parse_expression());
          }
          expect_op("}");
          return d;
        }
        break;
      default: break;
    }
    fail_here("unexpected " + describe(tk));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      int line = cur().line;
      if (skip_op(".")) {
        if (cur().type == Tok::Name) {
          auto a = make(Expr::Kind::Attr, line);
          a->name = next().value;
          a->children.push_back(std::move(node));
          node = std::move(a);
        } else if (cur().type == Tok::Int) {
          auto it = make(Expr::Kind::Item, line);
          it->children.push_back(std::move(node));
          auto idx = make(Expr::Kind::Literal, line);
          idx->literal = Value(next().int_value);
          it->children.push_back(std::move(idx));
          node = std::move(it);
        } else {
          fail_here("expected name or number after '.'");
        }
      } else if (skip_op("[")) {
        node = parse_subscript(std::move(node), line);
      } else if (is_op("(")) {
        node = parse_call(std::move(node), line);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node, int line) {
    ExprPtr parts[3];
    int part = 0;
    bool slice = false;
    while (!is_op("]")) {
      if (skip_op(":")) {
        slice = true;
        if (++part > 2) fail_here("too many ':' in slice");
        continue;
      }
      if (parts[part]) fail_here("expected ']' or ':'");
      parts[part] = parse_expression();
    }
    expect_op("]");
    if (!slice) {
      if (!parts[0]) parts[0] = make(Expr::Kind::Tuple, line);  // jinja2 reads `x[]` as x[()]
      auto it = make(Expr::Kind::Item, line);
      it->children.push_back(std::move(node));
      it->children.push_back(std::move(parts[0]));
      return it;
    }
    auto s = make(Expr::Kind::Slice, line);
    s->children.push_back(std::move(node));
    for (auto& p : parts) s->children.push_back(std::move(p));
    return s;
  }

  void parse_args(Expr& e) {
    expect_op("(");
    bool any = false;
    while (!is_op(")")) {
      if (any) expect_op(",");
      if (is_op(")")) break;
      any = true;
      if (cur().type == Tok::Name && peek().type == Tok::Op && peek().value == "=") {
        std::string key = next().value;
        ++i_;
        e.kwargs.emplace_back(key, parse_expression());
      } else {
        if (!e.kwargs.empty()) fail_here("positional argument after keyword argument");
        e.children.push_back(parse_expression());
      }
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr node, int line) {
    auto c = make(Expr::Kind::Call, line);
    c->children.push_back(std::move(node));
    parse_args(*c);
    return c;
  }

  ExprPtr parse_filter_chain(ExprPtr node, bool first_has_pipe = true) {
    bool first = true;
    while ((first && !first_has_pipe) || skip_op("|")) {
      first = false;
      const Token& at = cur();
      std::string name = expect_name();
      while (skip_op(".")) name += "." + expect_name();
      auto f = make(Expr::Kind::Filter, at.line);
      f->column = at.column;
      f->name = name;
      f->children.push_back(std::move(node));
      if (is_op("(")) parse_args(*f);
      node = std::move(f);
    }
    return node;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter_chain(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node), cur().line);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_test(ExprPtr node) {
    int line = cur().line;
    ++i_;  // is
    bool negated = skip_name("not");
    const Token& at = cur();
    std::string name = expect_name();
    while (skip_op(".")) name += "." + expect_name();
    auto t = make(Expr::Kind::Test, line);
    t->line = at.line;
    t->column = at.column;
    t->name = name;
    t->negated = negated;
    t->children.push_back(std::move(node));
    if (is_op("(")) {
      parse_args(*t);
    } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Int ||
                cur().type == Tok::Float || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail_here("You cannot chain multiple tests with is");
      ExprPtr arg = parse_postfix(parse_primary());
      t->children.push_back(std::move(arg));
    }
    return t;
  }

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int loop_depth_ = 0;
  int nesting_ = 0;
  int block_depth_ = 0;
  static constexpr int kMaxNesting = 400;
};

// jinja2 rejects an unknown filter or test when compiling, except in a "soft" frame (an if
// statement or an inline if-expression, not the loops or macros nested in them): there only
// reaching it fails, which templates use to guard optional filters.
void check_names(const Expr* e, bool soft) {
  if (!e) return;
  if (e->kind == Expr::Kind::Cond) soft = true;
  if (!soft && e->kind == Expr::Kind::Filter && !has_filter(e->name))
    throw TemplateSyntaxError("No filter named '" + e->name + "'.", e->line, e->column);
  if (!soft && e->kind == Expr::Kind::Test && !has_test(e->name))
    throw TemplateSyntaxError("No test named '" + e->name + "'.", e->line, e->column);
  for (const auto& c : e->children) check_names(c.get(), soft);
  for (const auto& [k, v] : e->kwargs) check_names(v.get(), soft);
}

void check_names(const Body& body, bool soft) {
  for (const auto& s : body) {
    check_names(s->expr.get(), soft);
    check_names(s->value.get(), soft);
    check_names(s->filter.get(), soft);
    check_names(s->loop_filter.get(), false);
    for (const auto& p : s->params) check_names(p.default_value.get(), false);
    for (const auto& [cond, b] : s->branches) {
      check_names(cond.get(), true);
      check_names(b, true);
    }
    check_names(s->body, false);
    check_names(s->else_body, false);
  }
}

}  // namespace

Body parse(const std::vector<Token>& tokens) {
  Body body = Parser(tokens).parse_template();
  check_names(body, false);
  return body;
}

}  // namespace hlwq::chat::jinja
