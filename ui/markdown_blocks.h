#pragma once
// Splits a message into prose and fenced code blocks, so QML renders prose as Markdown and
// each code block in monospace with its own copy button. An unclosed fence (a reply still
// streaming) counts as code up to the end.
#include <QString>
#include <QVariantList>

namespace hlwq::ui {

struct MarkdownBlock {
  bool code = false;
  QString text;
  QString language;  // the fence's info string, code blocks only
};

QList<MarkdownBlock> split_markdown(const QString& text);
QVariantList blocks_to_variant(const QList<MarkdownBlock>& blocks);  // [{code, text, language}]

}  // namespace hlwq::ui
