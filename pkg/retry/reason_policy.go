package retry

// ReasonPolicy is the DLQ reason of a job the sender refused (a From
// address, template, header, id or address outside its policy): it was
// never sent. Redriving it is pointless until the policy or the job changes.
const ReasonPolicy = "policy"
