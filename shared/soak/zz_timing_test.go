package soak
import ("context";"testing";"time";"fmt"
 "github.com/aws/aws-sdk-go-v2/aws"
 "github.com/aws/aws-sdk-go-v2/service/sqs"
 sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
 "github.com/namiml/mparticle-bridge/shared/devstack"
 "github.com/namiml/mparticle-bridge/shared/testenv")
func TestZZTiming(t *testing.T){
 cfg:=testenv.Config(t); ctx:=context.Background()
 out,err:=devstack.Provision(ctx,cfg,"timing"); if err!=nil{t.Fatal(err)}
 q:=sqs.NewFromConfig(cfg)
 t0:=time.Now()
 for i:=0;i<20;i++{ q.GetQueueAttributes(ctx,&sqs.GetQueueAttributesInput{QueueUrl:aws.String(out.QueueURL),AttributeNames:[]sqstypes.QueueAttributeName{"ApproximateNumberOfMessages"}})}
 fmt.Println("getattrs", time.Since(t0)/20)
 t0=time.Now()
 for i:=0;i<20;i++{ var e []sqstypes.SendMessageBatchRequestEntry; for j:=0;j<10;j++{e=append(e,sqstypes.SendMessageBatchRequestEntry{Id:aws.String(fmt.Sprint(j)),MessageBody:aws.String("x")})}
  q.SendMessageBatch(ctx,&sqs.SendMessageBatchInput{QueueUrl:aws.String(out.QueueURL),Entries:e})}
 fmt.Println("sendbatch", time.Since(t0)/20)
 t0=time.Now()
 for i:=0;i<20;i++{ q.ReceiveMessage(ctx,&sqs.ReceiveMessageInput{QueueUrl:aws.String(out.QueueURL),MaxNumberOfMessages:10})}
 fmt.Println("receive", time.Since(t0)/20)
}
