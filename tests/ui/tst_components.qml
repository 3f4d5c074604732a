import QtQuick
import QtTest
import HlwqChat

// The drawing and message components on their own.
Item {
    id: root
    width: 600
    height: 400

TestCase {
    name: "Components"
    when: windowShown

    Component { id: codeBlock; CodeBlock { width: 400 } }
    Component { id: vramBar; VramBar { width: 500 } }
    Component { id: kvChart; KvChart { width: 300; height: 150 } }
    Component { id: thinkingBlock; ThinkingBlock { width: 400 } }

    function test_code_block_is_monospace_with_copy() {
        const block = createTemporaryObject(codeBlock, root, { code: "int main() {}", language: "cpp" })
        const copy = findChild(block, "copyCodeButton")
        verify(copy)
        compare(copy.text, "Copy")
        waitForRendering(block)
        verify(copy.width > 0 && copy.visible, "copy button is laid out: " + copy.width)
        mouseClick(copy)
        compare(copy.text, "Copied")
        verify(block.implicitHeight > 30)
    }

    function test_vram_bar_is_proportional_to_capacity() {
        const gib = 1024 * 1024 * 1024
        const bar = createTemporaryObject(vramBar, root, {
            segments: [{ name: "Weights", bytes: 12 * gib }, { name: "KV cache", bytes: 4 * gib }],
            total: 24 * gib, used: 18 * gib })
        compare(bar.engine, 16 * gib)
        compare(bar.other, 2 * gib)
        const track = findChild(bar, "vramBar")
        waitForRendering(bar)
        // Weights take half of the card.
        const row = track.children[0]
        fuzzyCompare(row.children[0].width, track.width / 2, 1)
        fuzzyCompare(row.children[1].width, track.width / 6, 1)
    }

    function test_kv_chart_scales_to_the_fp16_line() {
        const chart = createTemporaryObject(kvChart, root, {
            points: [{ context: 100, bytes: 1000, fp16: 4000 }, { context: 200, bytes: 2000, fp16: 8000 }] })
        compare(chart.maxX, 200)
        fuzzyCompare(chart.maxY, 8800, 0.001)
        const line = chart.line("bytes")
        compare(line.length, 3)
        verify(line[2].y > chart.line("fp16")[2].y, "the compressed line lies below FP16")
    }

    function test_thinking_block_folds() {
        const block = createTemporaryObject(thinkingBlock, root, { text: "hmm", live: true })
        verify(block.expanded)
        block.live = false
        verify(!block.expanded)
        block.expanded = true
        verify(block.expanded)
    }
}
}
