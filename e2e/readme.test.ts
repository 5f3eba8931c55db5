// README promises must stay true: its two quickstart commands exist as npm scripts, and every `everlog` command
// line it shows names a real subcommand with flags that subcommand accepts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { buildProgram } from '../packages/cli/src/program.js'

const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
  scripts: Record<string, string>
}

/** Shell lines of the README's sh code blocks, with backslash continuations joined. */
function shellLines(markdown: string): string[] {
  return [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1]!.replace(/\\\n\s*/g, ' ').split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter(Boolean)
}

test('the quickstart is two commands backed by npm scripts', () => {
  const quickstart = readme.slice(
    readme.indexOf('## Quickstart'),
    readme.indexOf('\n## ', readme.indexOf('## Quickstart') + 1),
  )
  const lines = shellLines(quickstart)
  assert.deepEqual(lines, ['npm ci && npm start', 'npm test'])
  assert.match(pkg.scripts.start!, /everlog\.js demo$/)
  assert.ok(pkg.scripts.test)
})

test('every everlog command in the README names a real subcommand and real flags', () => {
  const program = buildProgram()
  const commands = shellLines(readme).filter((l) => /(^|\s)(npx )?everlog /.test(l))
  assert.ok(commands.length >= 6, `README shows everlog commands (${commands.length})`)
  for (const line of commands) {
    const words = line.slice(line.indexOf('everlog ') + 'everlog '.length).split(/\s+/)
    let cmd = program.commands.find((c) => c.name() === words[0])
    assert.ok(cmd, `"${line}": no subcommand ${words[0]}`)
    const sub = cmd.commands.find((c) => c.name() === words[1])
    if (sub) cmd = sub
    const help = cmd.helpInformation()
    for (const flag of words.filter((w) => w.startsWith('--')).map((w) => w.split('=')[0]!)) {
      assert.ok(help.includes(flag), `"${line}": ${cmd.name()} has no ${flag} option`)
    }
  }
})
