/** Artifact key layout in the bucket. Every job's files live under jobs/<id>/. */
export const keys = {
  dataset: (tenant: string, sha256: string) => `datasets/${tenant}/${sha256}.csv`,
  datasetMeta: (tenant: string, id: string) => `datasets/${tenant}/${id}.json`,
  /** an upload while it streams in (its content address is known only at the end) */
  datasetIncoming: (tenant: string, uploadId: string) => `datasets/${tenant}/.incoming/${uploadId}`,
  jobPrefix: (jobId: string) => `jobs/${jobId}/`,
  jobFile: (jobId: string, name: string) => `jobs/${jobId}/${name}`,
  history: (jobId: string) => `jobs/${jobId}/history.json`,
  summary: (jobId: string) => `jobs/${jobId}/summary.json`,
  /** the final model in TF.js layers format: model.json + weights.bin + meta.json */
  modelPrefix: (jobId: string) => `jobs/${jobId}/model/`,
  modelJson: (jobId: string) => `jobs/${jobId}/model/model.json`,
  modelWeights: (jobId: string) => `jobs/${jobId}/model/weights.bin`,
  /** preprocessing statistics and label encoding needed by predict */
  modelMeta: (jobId: string) => `jobs/${jobId}/model/meta.json`,
  unitPrefix: (jobId: string, unit: string) => `jobs/${jobId}/units/${unit}/`,
  unitHistory: (jobId: string, unit: string) => `jobs/${jobId}/units/${unit}/history.json`,
  unitResult: (jobId: string, unit: string) => `jobs/${jobId}/units/${unit}/result.json`,
  /** checkpoints sit apart from the job's files so a bucket lifecycle rule (prefix checkpoints/) can expire leftovers */
  checkpointPrefix: (jobId: string) => `checkpoints/${jobId}/`,
  checkpoint: (jobId: string, unit: string) => `checkpoints/${jobId}/${unit}/`,
  /** the Job as GET /v1/jobs/:id answered it when retention took it out of Redis */
  jobArchive: (jobId: string) => `jobs/${jobId}/job.json`,
  /** archived jobs of a tenant by the UTC day they finished: JSON lines, one object per retention sweep */
  archiveIndexPrefix: (tenant: string) => `index/jobs/${tenant}/`,
  archiveIndex: (tenant: string, day: string, sweep: string) => `index/jobs/${tenant}/${day}/${sweep}.jsonl`,
};

/** Artifact names that GET /v1/jobs/:id/artifacts/:name serves, and where they live. */
export function artifactKey(jobId: string, name: string): string | undefined {
  switch (name) {
    case 'history.json':
    case 'summary.json':
    case 'spec.json':
      return keys.jobFile(jobId, name);
    case 'model.json':
      return keys.modelJson(jobId);
    case 'weights.bin':
      return keys.modelWeights(jobId);
    case 'meta.json':
    case 'model-meta.json':
      return keys.modelMeta(jobId);
    default: {
      // units/<unit>/history.json
      const m = /^units\/(r\d+-p\d+-f\d+|final)\/(history|result)\.json$/.exec(name);
      return m ? keys.jobFile(jobId, name) : undefined;
    }
  }
}
