#pragma once
// The parsed template: one generic expression node and one statement node, so the
// interpreter is a pair of switches.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "value.h"

namespace hlwq::chat::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,   // literal
    Name,      // name
    List,      // children
    Tuple,     // children
    Dict,      // children: key, value, key, value...
    Attr,      // children[0] . name
    Item,      // children[0] [ children[1] ]
    Slice,     // children[0] [ children[1] : children[2] : children[3] ] (null when absent)
    Call,      // children[0] ( children[1..], kwargs )
    Filter,    // children[0] | name ( children[1..], kwargs ); children[0] null in filter blocks
    Test,      // children[0] is [not] name ( children[1..], kwargs )
    Unary,     // name (op: "-", "+", "not") children[0]
    Binary,    // children[0] name children[1]: + - * / // % ** ~ and or in "not in"
    Compare,   // children[0] ops[0] children[1] ops[1] children[2]... (chained)
    Cond,      // children[1] if children[0] else children[2] (null: undefined)
  };
  Kind kind;
  int line = 0;
  int column = 0;  // filters and tests, for "No filter named" errors
  Value literal;
  std::string name;
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: required
};

struct Stmt {
  enum class Kind { Text, Output, If, For, Set, SetAttr, SetBlock, Macro, CallBlock, FilterBlock, Break, Continue };
  Kind kind;
  int line = 0;
  std::string text;                   // Text; Macro name; SetAttr attribute
  ExprPtr expr;                       // Output, For iterable, Set value, SetAttr object, CallBlock call
  ExprPtr value;                      // SetAttr value
  ExprPtr loop_filter;                // For ... if cond
  ExprPtr filter;                     // SetBlock / FilterBlock: Filter chain applied to the body
  std::vector<std::string> targets;   // For loop variables, Set / SetBlock names
  bool unpack = false;                // targets written as a tuple: `for k, v in ...`
  std::vector<std::pair<ExprPtr, Body>> branches;  // If: (condition, body); else has a null condition
  Body body;                          // For, SetBlock, Macro, CallBlock, FilterBlock
  Body else_body;                     // For ... else
  std::vector<MacroParam> params;     // Macro, CallBlock caller
};

}  // namespace hlwq::chat::jinja
