'use strict';

// GET /: who answers. Edit MESSAGE and save: the next answer has the new text (the dev target
// restarts the server on every save; see docs/how-to/hot-reload.md).
const { sendJson } = require('./http');

const MESSAGE = 'hello from shop';

function hello(req, res) {
  sendJson(res, 200, { service: 'shop-api', message: MESSAGE });
}

module.exports = { hello };
