// Runs dynalite (the path to its cli.js is the first argument; the rest are
// dynalite's own) with one fix the chaos suite needs: dynalite rethrows a
// request's 'error' event (index.js: req.on('error', function (err) { throw
// err })), so a client that dies in the middle of sending a request — a
// worker killed with SIGKILL, exactly what the suite does — takes the whole
// server down with "Error: aborted" (ECONNRESET). DynamoDB shrugs that off;
// here the aborted request is dropped and the server keeps serving. Any
// other uncaught error still ends the process.
'use strict'

process.on('uncaughtException', function (err) {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error('dynalite: dropped a request its client aborted (' + (err.code || err.message) + ')')
    return
  }
  console.error(err)
  process.exit(70)
})

const cli = process.argv[2]
process.argv.splice(2, 1)
require(cli)
