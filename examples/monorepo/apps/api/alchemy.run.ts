// The API of the monorepo example: a local "worker" whose URL is made up
// from the stage. No cloud account needed.
import alchemy, { Resource } from "alchemy";
import { File } from "alchemy/fs";

// Custom resources must be defined before `await alchemy(...)`.
export const Worker = Resource(
  "example::Worker",
  async function (this: any, id: string, props: { stage: string }) {
    if (this.phase === "delete") {
      return this.destroy();
    }
    return { url: `https://${props.stage}.api.example.test/` };
  },
);

const app = await alchemy("monorepo-api");

export const worker = await Worker("worker", { stage: app.stage });
await File("routes", {
  path: `out/${app.stage}/routes.json`,
  content: JSON.stringify({ health: "/health" }),
});

console.log(`API ${app.stage}: ${worker.url}`);

await app.finalize();
