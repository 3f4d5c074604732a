#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png: hlwq-chat with the fake engine (a simulated 24 GB GPU)
# and a Qwen3.5-27B config, light and dark, grabbed from the window (QQuickWindow::grabWindow).
# Usage: app/chat/scripts/make-screenshots.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out="$root/docs/screenshots"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model="$work/models/Qwopus3.5-27B-v3-HLWQ-Q5"
mkdir -p "$model" "$out"
# Qwen3.5-27B's shape (../shared/specs/qwen35.md section 1), so the Fit page has a real plan.
cat > "$model/config.json" <<'JSON'
{"architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5", "tie_word_embeddings": false,
 "text_config": {"model_type": "qwen3_5_text", "vocab_size": 248320, "hidden_size": 5120, "intermediate_size": 17408,
  "num_hidden_layers": 64, "num_attention_heads": 24, "num_key_value_heads": 4, "head_dim": 256,
  "linear_num_key_heads": 16, "linear_num_value_heads": 48, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
  "linear_conv_kernel_dim": 4, "full_attention_interval": 4, "max_position_embeddings": 262144, "rms_norm_eps": 1e-06,
  "hidden_act": "silu", "tie_word_embeddings": false,
  "rope_parameters": {"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25}}}
JSON
echo '{"format": "hlwq-q5", "bits": 5}' > "$model/hlwq_config.json"
for theme in light dark; do
  sed -e "s#OUT#$out#g" -e "s#THEME#$theme#g" "$here/screenshots.txt" > "$work/script.txt"
  rm -rf "$work/xdg"
  HLWQ_THEME=$theme HLWQ_FAKE_GPU=1 HLWQ_FAKE_TOKEN_MS=3 HLWQ_MODELS_DIR="$work/models" XDG_DATA_HOME="$work/xdg" \
    HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen "$build/app/chat/hlwq-chat" --fake-engine --script "$work/script.txt"
done
