import { createHost } from 'terrarium';
const host = await createHost({ dir: '/tmp/luax', limits: { memoryBytes: 32 << 20, callTimeoutMs: 200 } });
const x = host.get(process.argv[2]);
for (const f of process.argv.slice(3)) {
  const t = performance.now();
  let r; try { r = JSON.stringify(x[f]()); } catch (e) { r = e.code + ' ' + e.message.slice(0, 100); }
  console.log(f, (performance.now() - t).toFixed(0) + 'ms', r);
  await host.ready();
}
await host.close();
