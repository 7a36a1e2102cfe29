// hooks: the load hooks (^:dev/before-load, ^:dev/after-load) the sidecar names in every
// batch, called in its order around the batch; one that throws is reported and the others
// still run. Then the page hears about it too: `jank-hotpatch:before-load` and
// `jank-hotpatch:after-load` events on window, with the batch's vars in `detail.vars`.

const hooks = {
  // -> [{var, ok, error?, output?}]. A hook whose var holds no function yet (a before-load
  // hook defined by this very batch) is not called: jank would throw calling nil.
  call(M, vars) {
    return (vars || []).filter((v) => M._jank_truthy(varRoot(M, v))).map((v) => {
      const stack = M.stackSave ? M.stackSave() : null;
      const called = output.capture(() => {
        try {
          callVar(M, v);
          return null;
        } catch (e) {
          // A throw leaves emscripten's stack pointer where it was: put it back.
          if (stack !== null) M.stackRestore(stack);
          return errors.describe(e).message;
        }
      });
      const result = { var: v, ok: called.result === null };
      if (!result.ok) {
        result.error = called.result;
        console.error('jank-hotpatch: load hook ' + varKey(v) + ' threw: ' + result.error);
      }
      if (called.lines.length) result.output = called.lines;
      return result;
    });
  },

  announce(when, headers) {
    const vars = headers.map((h) => varKey(h.var));
    window.dispatchEvent(new CustomEvent('jank-hotpatch:' + when, { detail: { vars } }));
  },
};
