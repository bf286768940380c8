package wire

// Full HSM backup and restore (backuprestore.json, 7.6).

// SASTokenParameter names a blob container and how to reach it.
type SASTokenParameter struct {
	StorageResourceURI string `json:"storageResourceUri"`
	Token              string `json:"token,omitempty"`
	UseManagedIdentity *bool  `json:"useManagedIdentity,omitempty"`
}

// RestoreOperationParameters is the body of PUT /restore and /prerestore.
type RestoreOperationParameters struct {
	SASTokenParameters *SASTokenParameter `json:"sasTokenParameters"`
	FolderToRestore    string             `json:"folderToRestore"`
}

// SelectiveKeyRestoreOperationParameters is the body of PUT
// /keys/{name}/restore.
type SelectiveKeyRestoreOperationParameters struct {
	SASTokenParameters *SASTokenParameter `json:"sasTokenParameters"`
	Folder             string             `json:"folder"`
}

// Backup and restore job statuses.
const (
	JobInProgress = "InProgress"
	JobSucceeded  = "Succeeded"
	JobFailed     = "Failed"
	JobCanceled   = "Canceled"
)

// BackupOperation is FullBackupOperation (and, without
// AzureStorageBlobContainerURI, RestoreOperation and
// SelectiveKeyRestoreOperation): the status of a job. Null fields are sent
// as null, as Managed HSM does. FolderName is mhsm's addition: the folder
// alone, as `az keyvault restore start --backup-folder` wants it.
type BackupOperation struct {
	Status                       string       `json:"status"`
	StatusDetails                *string      `json:"statusDetails"`
	Error                        *ErrorDetail `json:"error"`
	StartTime                    int64        `json:"startTime"`
	EndTime                      *int64       `json:"endTime"`
	JobID                        string       `json:"jobId"`
	AzureStorageBlobContainerURI *string      `json:"azureStorageBlobContainerUri,omitempty"`
	FolderName                   string       `json:"folderName,omitempty"`
}
