// Preloaded with `node --import`: appends the URL of every module the main thread loads (by import or require)
// to the file RECORD_LOADS_TO names, one a line, as it loads: a process killed meanwhile has its list so far.
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const file = process.env.RECORD_LOADS_TO!;
registerHooks({
  load(url, context, nextLoad) {
    appendFileSync(file, `${url}\n`);
    return nextLoad(url, context);
  },
});
