// Starts dynalite's own CLI, but survives clients that abort a request.
//
// dynalite 4.0.0 rethrows every request error (index.js:
// `req.on('error', function (err) { throw err })`), and Node 20 reports a
// request whose client hung up mid-body as such an error ("aborted",
// ECONNRESET): the whole emulator process dies and every later test sees
// "connection refused". Our tests abort requests on purpose (a cancelled
// context, a lease lost mid-render), as real clients do; DynamoDB shrugs
// that off, so the emulator must too. Any other uncaught error still ends
// the process.
//
// Usage: node dynalite-server.js <path to dynalite/cli.js> [dynalite flags]
'use strict'
process.on('uncaughtException', function (err) {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error('dynalite: a client aborted a request (ignored):', err.message)
    return
  }
  console.error(err)
  process.exit(1)
})
var cli = process.argv.splice(2, 1)[0]
require(cli)
