#include "markdown_blocks.h"

#include <QVariantMap>

namespace hlwq::ui {

QList<MarkdownBlock> split_markdown(const QString& text) {
  QList<MarkdownBlock> out;
  MarkdownBlock cur;
  QString fence;  // the opening fence ("```" or "~~~", maybe longer) while inside code
  auto flush = [&] {
    if (cur.code || !cur.text.trimmed().isEmpty()) {
      if (cur.text.endsWith('\n')) cur.text.chop(1);
      out.push_back(cur);
    }
    cur = {};
  };
  const QStringList lines = text.split('\n');
  for (qsizetype i = 0; i < lines.size(); ++i) {
    const QString& line = lines[i];
    const QString trimmed = line.trimmed();
    const bool last = i + 1 == lines.size();
    if (fence.isEmpty() && (trimmed.startsWith(QLatin1String("```")) || trimmed.startsWith(QLatin1String("~~~")))) {
      flush();
      const QChar ch = trimmed[0];
      qsizetype n = 0;
      while (n < trimmed.size() && trimmed[n] == ch) ++n;
      fence = QString(n, ch);
      cur.code = true;
      cur.language = trimmed.mid(n).trimmed();
      continue;
    }
    if (!fence.isEmpty() && trimmed.startsWith(fence) && trimmed.mid(fence.size()).trimmed().isEmpty()) {
      fence.clear();
      flush();
      continue;
    }
    cur.text += line;
    if (!last) cur.text += '\n';
  }
  flush();
  return out;
}

QVariantList blocks_to_variant(const QList<MarkdownBlock>& blocks) {
  QVariantList out;
  for (const auto& b : blocks)
    out.push_back(QVariantMap{{"code", b.code}, {"text", b.text}, {"language", b.language}});
  return out;
}

}  // namespace hlwq::ui
