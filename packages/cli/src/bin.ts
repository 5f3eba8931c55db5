#!/usr/bin/env node
// The `everlog` executable: everything else lives in run.ts so it can be driven from tests and other programs.
import { run } from './run.js'

// Every failure is one actionable line on stderr; the AWS SDK's notice about future Node versions is neither.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const code = await run(process.argv.slice(2))
// A failed command has said all it will (one line on stderr); a Kafka client still trying to reach a broker that
// never answers must not keep the process alive after that.
if (code !== 0) process.exit(code)
process.exitCode = code
